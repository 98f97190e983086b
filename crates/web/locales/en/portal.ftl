# portal pages
