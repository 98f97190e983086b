# billing pages
