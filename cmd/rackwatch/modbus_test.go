package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// startSimModbus runs `rackwatch sim modbus ARGS` and returns the address or device path it prints.
func startSimModbus(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- simModbus(ctx, args, pw, &stderr); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sim modbus exited %d: %s", code, stderr.String())
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("sim modbus printed nothing: %v", err)
	}
	go io.Copy(io.Discard, pr)
	return strings.TrimSpace(line)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func runRead(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := modbusRead(ctx, args, &out, &errb)
	return out.String() + errb.String(), code
}

// The installer's loop: a simulated UPS over TCP, read from the command line with the profile's scaling.
func TestSimModbusTCPAndRead(t *testing.T) {
	addr := startSimModbus(t, "--listen", freeAddr(t), "--profile", "ups", "--set", "input_voltage=231.4,runtime=1234")
	out, code := runRead(t, "--bus", "tcp://"+addr, "--unit", "1", "--table", "holding", "--address", "11000", "--scale", "0.1")
	if code != 0 || !strings.Contains(out, "holding 11000\tuint16 abcd\t231.4\traw 0x090a") {
		t.Errorf("input voltage: exit %d\n%s", code, out)
	}
	out, code = runRead(t, "--bus", "tcp://"+addr, "--table", "holding", "--address", "12004", "--type", "uint32")
	if code != 0 || !strings.Contains(out, "\t1234\traw 0x000004d2") {
		t.Errorf("runtime: exit %d\n%s", code, out)
	}
	// An address the profile does not map is the device's exception, exit 1.
	out, code = runRead(t, "--bus", "tcp://"+addr, "--table", "input", "--address", "5")
	if code != 1 || !strings.Contains(out, "illegal data address") {
		t.Errorf("unmapped address: exit %d\n%s", code, out)
	}
}

// The same over RTU on a pseudo-terminal, with a unit that is not there timing out.
func TestSimModbusRTUAndRead(t *testing.T) {
	path := startSimModbus(t, "--rtu", "pty", "--profile", "bms", "--units", "3", "--set", "charge=87.5")
	out, code := runRead(t, "--bus", "rtu://"+path+"?baud=19200&parity=even", "--unit", "3", "--table", "input", "--address", "4101", "--scale", "0.1")
	if code != 0 || !strings.Contains(out, "\t87.5\t") {
		t.Errorf("charge: exit %d\n%s", code, out)
	}
	out, code = runRead(t, "--bus", "rtu://"+path+"?timeout=100ms", "--unit", "4", "--table", "input", "--address", "4101")
	if code != 1 || !strings.Contains(out, "timed out") {
		t.Errorf("absent unit: exit %d\n%s", code, out)
	}
}

func TestModbusReadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--table", "input"},                              // no bus
		{"--bus", "tcp://127.0.0.1:1", "--type", "float"}, // unknown type
		{"--bus", "serial:///dev/ttyUSB0"},                // unknown scheme
		{"--bus", "rtu:///dev/ttyUSB0?baud=9601"},         // unsupported speed
	} {
		if out, code := runRead(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, out)
		}
	}
}

// -c CONFIG --bus ID reads through a bus as configured, with the config's settings.
func TestModbusReadConfiguredBus(t *testing.T) {
	addr := startSimModbus(t, "--listen", freeAddr(t), "--profile", "ups", "--set", "charge=64")
	cfg := t.TempDir() + "/rackwatch.yaml"
	os.WriteFile(cfg, []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nbuses:\n  - {id: lan, type: modbus-tcp, address: "+addr+", timeout: 2s}\n"), 0o644)
	out, code := runRead(t, "-c", cfg, "--bus", "lan", "--table", "holding", "--address", "12003")
	if code != 0 || !strings.Contains(out, "\t64\t") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if out, code := runRead(t, "-c", cfg, "--bus", "nosuch"); code != 2 || !strings.Contains(out, `no bus "nosuch"`) {
		t.Errorf("unknown bus id: exit %d\n%s", code, out)
	}
}
