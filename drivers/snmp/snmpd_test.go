package snmp

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// startSnmpd runs Debian's net-snmp agent on a free loopback port, serving UPS-MIB values with `override`
// and accepting a v2c community and a v3 authPriv user.
func startSnmpd(t *testing.T, objects string) string {
	t.Helper()
	bin := peer.Binary(t, "snmpd", "snmpd", "/usr/sbin/snmpd", "/sbin/snmpd")
	dir := t.TempDir()
	port := freeUDPPort(t)
	conf := fmt.Sprintf("agentaddress udp:127.0.0.1:%d\nrocommunity ups-ro 127.0.0.1\n"+
		"createUser mon SHA256 authpass123 AES privpass123\nrouser mon priv\n%s", port, objects)
	cf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", cf, "-p", filepath.Join(dir, "pid"))
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=", "MIBDIRS="+dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("snmpd output:\n%s", out)
		}
	})
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

const upsObjects = `override .1.3.6.1.2.1.33.1.2.1.0 integer 3
override .1.3.6.1.2.1.33.1.2.2.0 integer 95
override .1.3.6.1.2.1.33.1.2.3.0 integer 7
override .1.3.6.1.2.1.33.1.2.4.0 integer 34
override .1.3.6.1.2.1.33.1.2.5.0 integer 482
override .1.3.6.1.2.1.33.1.2.7.0 integer 39
override .1.3.6.1.2.1.33.1.3.3.1.3.1 integer 0
override .1.3.6.1.2.1.33.1.4.1.0 integer 5
override .1.3.6.1.2.1.33.1.4.4.1.2.1 integer 229
override .1.3.6.1.2.1.33.1.4.4.1.5.1 integer 61
override .1.3.6.1.2.1.33.1.6.1.0 uinteger 2
override .1.3.6.1.2.1.33.1.6.2.1.2.1 object_id .1.3.6.1.2.1.33.1.6.3.2
override .1.3.6.1.2.1.33.1.6.2.1.2.2 object_id .1.3.6.1.2.1.33.1.6.3.1
`

var onBatteryWant = map[reading.Channel]float64{
	reading.OnBattery: 1, reading.LowBattery: 1, reading.Charge: 34, reading.Runtime: 420,
	reading.BatteryVoltage: 48.2, reading.BatteryTemp: 39, reading.InputVoltage: 0, reading.OutputVoltage: 229,
	reading.Load: 61, reading.ReplaceBattery: 1, reading.Overload: 0, reading.Fault: 0,
}

func readEventually(t *testing.T, d *Device) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := read(t, d, 2*time.Second)
		if err == nil {
			wantValues(t, got, onBatteryWant)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd never answered: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // snmpd still starting
	}
}

func TestSnmpdV2c(t *testing.T) {
	addr := startSnmpd(t, upsObjects)
	d := newDevice(t, &Options{Address: addr, Version: "2c", CommunityFile: communityFile(t, "ups-ro")})
	readEventually(t, d)
}

func TestSnmpdV3AuthPriv(t *testing.T) {
	addr := startSnmpd(t, upsObjects)
	t.Setenv("RW_TEST_AUTH", "authpass123")
	t.Setenv("RW_TEST_PRIV", "privpass123")
	d := newDevice(t, &Options{Address: addr, Version: "3", Username: "mon", SecurityLevel: "authPriv",
		AuthProtocol: "SHA256", AuthPasswordEnv: "RW_TEST_AUTH", PrivProtocol: "AES", PrivPasswordEnv: "RW_TEST_PRIV"})
	readEventually(t, d)

	// A wrong privacy password gets no usable answer: a bad poll, not wrong values.
	t.Setenv("RW_TEST_PRIV", "wrongpass123")
	bad := newDevice(t, &Options{Address: addr, Version: "3", Username: "mon", SecurityLevel: "authPriv",
		AuthProtocol: "SHA256", AuthPasswordEnv: "RW_TEST_AUTH", PrivProtocol: "AES", PrivPasswordEnv: "RW_TEST_PRIV"})
	if got, err := read(t, bad, 2*time.Second); err == nil {
		t.Errorf("wrong priv password read %v", got)
	}
}
