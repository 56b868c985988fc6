//go:build race

package admin

// raceOn: the race detector slows storing many events eightfold.
const raceOn = true
