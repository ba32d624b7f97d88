package modbussim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"

	mb "github.com/simonvetter/modbus"
)

// Options says which device Serve serves, and where: exactly one of Listen and RTU.
type Options struct {
	// Device is the simulated device (NewSim).
	Device *Sim
	// Listen serves Modbus TCP on this host:port.
	Listen string
	// RTU serves Modbus RTU on this serial device (or an existing pty slave), or on a new pseudo-terminal
	// if it is "pty".
	RTU string
	// Baud and Parity set up the serial device of RTU; zero values take the bus defaults (19200, even).
	Baud   int
	Parity string
	// Log receives the RTU server's warnings (garbled input, once per kind); nil discards them.
	Log *slog.Logger
	// Ready, if set, is called once the device is being served, with the transport ("TCP" or "RTU") and
	// where: the TCP address, or the serial device's path (a new pseudo-terminal's slave).
	Ready func(transport, where string)
}

// Serve serves o.Device until ctx is done (then it returns nil) or serving fails.
func Serve(ctx context.Context, o Options) error {
	switch {
	case o.Device == nil:
		return errors.New("modbus sim: no device to serve")
	case (o.Listen == "") == (o.RTU == ""):
		return errors.New("modbus sim: serve on exactly one of a TCP address and an RTU device")
	case o.Listen != "":
		return serveTCP(ctx, o)
	}
	return serveRTU(ctx, o)
}

func serveTCP(ctx context.Context, o Options) error {
	// Check the address first: the library's server reports a failed listen without saying why.
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return err
	}
	l.Close()
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + o.Listen, MaxClients: 32, Logger: log.New(io.Discard, "", 0)}, o.Device)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		return fmt.Errorf("listen %s: %v", o.Listen, err)
	}
	defer srv.Stop()
	if o.Ready != nil {
		o.Ready("TCP", o.Listen)
	}
	<-ctx.Done()
	return nil
}

func serveRTU(ctx context.Context, o Options) error {
	logger := o.Log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &RTUServer{Handler: o.Device, Log: logger}
	var port io.ReadWriteCloser
	path := o.RTU
	if o.RTU == "pty" {
		master, slave, err := OpenPTY()
		if err != nil {
			return err
		}
		defer slave.Close() // held open: the master reads EIO once the last slave descriptor closes
		port, path = master, slave.Name()
	} else {
		var err error
		if port, err = OpenSerialPort(o.RTU, o.Baud, o.Parity, 0); err != nil {
			return err
		}
	}
	defer port.Close()
	if o.Ready != nil {
		o.Ready("RTU", path)
	}
	return srv.Serve(ctx, port)
}
