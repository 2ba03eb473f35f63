module github.com/hearth-hub/hearth/vmtest/guest

go 1.26.0

require (
	github.com/hearth-hub/hearth v0.0.0
	github.com/jonboulle/clockwork v0.5.0
	periph.io/x/conn/v3 v3.7.3
	periph.io/x/host/v3 v3.8.5
)

// The drivers under test are the ones in this checkout.
replace github.com/hearth-hub/hearth => ../..
