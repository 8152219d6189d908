"""OpenHands SDK backend for the sia Meta- and Feedback-Agent (any litellm provider)"""
