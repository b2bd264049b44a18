module squall

go 1.22
