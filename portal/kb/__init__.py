"""Knowledge base: articles, search, forum."""
