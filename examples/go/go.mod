module squall-examples

go 1.22

require squall v0.0.0

replace squall => ../../bindings/go
