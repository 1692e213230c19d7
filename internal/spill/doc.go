// Package spill sorts a listing by path without holding it all: entries go
// to memory in runs of a set size, each run sorted and written to a
// temporary file that is unlinked as soon as it is made (a killed run
// leaves nothing behind), and the runs are merged back in path order each
// time the listing is read. A listing that fits in one run never touches
// the disk.
package spill
