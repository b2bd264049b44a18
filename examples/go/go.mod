module squall-examples

go 1.23

require squall v0.0.0

replace squall => ../../bindings/go
