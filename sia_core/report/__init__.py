"""Reading runs back: tables, charts, the HTML report and `sia web`."""
