"""Server-rendered pages for the family: sign in, the plan, consents, who has seen our data."""
