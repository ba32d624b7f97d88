//go:build !nosim && !nomegatec

package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/megatec"
)

// The sim command serves the named scenario on a pty that the real megatec driver can read.
func TestSimMegatecServesScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- simMegatec(ctx, []string{"--pty", "--scenario", "steady"}, pw)
		pw.Close()
	}()
	path, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	path = strings.TrimSpace(path)
	go io.Copy(io.Discard, pr)

	o := &megatec.Options{Device: path, Baud: 2400, ReplyTimeout: settings.Duration(time.Second), Retries: 2}
	d := megatec.New(o, slog.New(slog.DiscardHandler), func() (megatec.Port, error) { return megatec.OpenSerial(path, 2400) })
	defer d.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	out, err := d.Read(rctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[reading.Channel]float64{}
	for _, s := range out {
		if s.Err != nil {
			t.Errorf("%s: %v", s.Channel, s.Err)
		}
		got[s.Channel] = s.Value
	}
	// The steady scenario: batteries at 25 °C on mains, 230 V in, a 48 V string floating at 54.4 V.
	if got[reading.OnBattery] != 0 || got[reading.Charge] != 100 || got[reading.BatteryTemp] < 24 || got[reading.BatteryTemp] > 26 ||
		got[reading.InputVoltage] < 225 || got[reading.InputVoltage] > 235 {
		t.Errorf("readings %v do not look like the steady scenario", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sim megatec did not stop when cancelled")
	}
}

func TestSimMegatecFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"--pty", "--scenario", "nosuch"}, {"--pty", "--speed", "0"}} {
		if code := simMegatec(context.Background(), args, io.Discard); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
