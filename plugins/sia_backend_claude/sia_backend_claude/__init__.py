"""Claude Agent SDK backend for the sia Meta- and Feedback-Agent"""
