package results

import (
	"syscall"
	"unsafe"
)

// ttyWidth is the column count of the terminal behind fd, or 0 when fd is not a terminal.
func ttyWidth(fd uintptr) int {
	var ws struct{ Row, Col, X, Y uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws))); errno != 0 {
		return 0
	}
	return int(ws.Col)
}
