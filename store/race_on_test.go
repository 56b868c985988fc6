//go:build race

package store

// raceOn: the race detector slows the model tests tenfold; CI runs them
// with it too, on fewer seeds.
const raceOn = true
