package modbussim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/goburrow/serial"

	"github.com/rackwatch/rackwatch/drivers/modbus"
)

// Serial endpoints for the simulated RTU device (RTUServer.Serve).

// OpenPTY creates a pseudo-terminal pair for a simulated RTU device: the device serves the master,
// and a client opens slavePath like a USB serial adapter. The master is switched to non-blocking mode
// so that read deadlines work (the server needs them to drop half-received frames). Keep slave open
// while serving: when the last slave descriptor closes, the master reads EIO.
func OpenPTY() (master *os.File, slave *os.File, err error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("modbus: open pty: %w", err)
	}
	// pty.Open's master is a blocking *os.File (no deadlines); re-wrap a non-blocking duplicate.
	fd, err := syscall.Dup(int(ptmx.Fd()))
	ptmx.Close()
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("modbus: pty master: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), tty, nil
}

// OpenSerialPort opens a serial device (or an existing pty slave) in raw mode for RTUServer.Serve.
// Reads time out after 20 ms with an error whose Timeout() is true, which Serve uses to notice the end
// of a frame.
func OpenSerialPort(path string, baud int, parity string, stopBits int) (io.ReadWriteCloser, error) {
	bc := modbus.BusConfig{Address: path, Baud: baud, Parity: parity, StopBits: stopBits}.WithDefaults()
	p, err := serial.Open(&serial.Config{
		Address: path, BaudRate: bc.Baud, DataBits: 8, StopBits: bc.StopBits,
		Parity: map[string]string{"none": "N", "even": "E", "odd": "O"}[bc.Parity], Timeout: 20 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("modbus: open %s: %w", path, modbus.OpenHint(err))
	}
	return timeoutPort{p}, nil
}

type timeoutPort struct{ serial.Port }

func (p timeoutPort) Read(b []byte) (int, error) {
	n, err := p.Port.Read(b)
	if errors.Is(err, serial.ErrTimeout) {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}
