//go:build !linux

package results

// ttyWidth is 0 here: only Linux asks the terminal; elsewhere $COLUMNS or DefaultWidth decide.
func ttyWidth(uintptr) int { return 0 }
