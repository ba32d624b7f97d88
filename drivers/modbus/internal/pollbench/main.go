// Command pollbench measures the Modbus driver's memory alone: it polls devices the way the agent's
// scheduler does (one goroutine per bus, every sensor at its interval) and prints the process's peak
// RSS (VmHWM) at the end. Serve the devices with `rackwatch sim modbus --listen ADDR --profile NAME`.
//
//	go run ./drivers/modbus/internal/pollbench -addr 127.0.0.1:15020 -devices 8 -registers 8 -for 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/drivers/modbus"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:15020", "Modbus TCP server")
	devices := flag.Int("devices", 8, "devices (unit ids 1..N)")
	registers := flag.Int("registers", 8, "input registers per device, from address 0")
	every := flag.Duration("every", time.Second, "poll interval")
	dur := flag.Duration("for", time.Minute, "how long to poll")
	flag.Parse()

	bus, err := modbus.NewBus(modbus.BusConfig{TCP: true, Address: *addr, Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	specs := make([]modbus.RegSpec, *registers)
	for i := range specs {
		a := i
		specs[i] = modbus.RegSpec{Channel: fmt.Sprintf("r%d", i), Table: "input", Address: &a, Type: "int16"}
	}
	devs := make([]*modbus.Device, *devices)
	for i := range devs {
		if devs[i], err = modbus.NewDevice(bus, modbus.DeviceConfig{Unit: uint8(i + 1), Registers: specs, Every: *every}, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	buf := make([]driver.Sample, 0, *registers)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	end := time.Now().Add(*dur)
	var reads, bad, samples int
	for time.Now().Before(end) {
		for _, d := range devs {
			ctx, cancel := context.WithTimeout(context.Background(), *every)
			out, err := d.Read(ctx, buf[:0])
			cancel()
			reads++
			if err != nil {
				bad++
				continue
			}
			samples += len(out)
		}
		<-tick.C
	}
	fmt.Printf("reads %d, failed %d, samples %d, requests %d\n", reads, bad, samples, bus.Requests())
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM") || strings.HasPrefix(line, "VmRSS") {
			fmt.Println(line)
		}
	}
}
