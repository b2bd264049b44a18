module godoccheck

go 1.23
