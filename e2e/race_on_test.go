//go:build race

package e2e

// raceEnabled says the tests run with -race, so the binaries they build
// (tollgate, devstack) are built with it too and the race detector covers
// the servers, not only the tests' own goroutines.
const raceEnabled = true
