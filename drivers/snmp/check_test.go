package snmp

import (
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func checkYAML(t *testing.T, sensor string) ([]driver.ChannelInfo, error) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n  - "+sensor+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return check(cfg.Sensors[0].DriverSensor(cfg.File))
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{
		`{id: ups4, driver: snmp, address: 10.0.0.30, community_file: /etc/rackwatch/snmp.community}`,
		`{id: ups4, driver: snmp, address: 10.0.0.30:161, version: "3", username: mon, auth_password_env: A, priv_password_env: P}`,
		`{id: ups4, driver: snmp, address: 10.0.0.30:161, version: "3", username: mon, security_level: noAuthNoPriv}`,
	} {
		chs, err := checkYAML(t, ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
		} else if len(chs) != 12 {
			t.Errorf("%s: %d channels", ok, len(chs))
		}
	}
	for _, tc := range []struct{ sensor, err string }{
		{`{id: u, driver: snmp, community_file: /c}`, "t.yaml:4: snmp: address is required"},
		{`{id: u, driver: snmp, address: h, community: public}`, "not written in the config"},
		{`{id: u, driver: snmp, address: h}`, "needs community_file"},
		{`{id: u, driver: snmp, address: h, version: "1", community_file: /c}`, "use 2c or 3"},
		{`{id: u, driver: snmp, address: h, version: "3"}`, "needs a username"},
		{`{id: u, driver: snmp, address: h, version: "3", username: m, priv_password_env: P}`, "needs auth_password_file"},
		{`{id: u, driver: snmp, address: h, version: "3", username: m, auth_password_env: A}`, "needs priv_password_file"},
		{`{id: u, driver: snmp, address: h, version: "3", username: m, auth_protocol: SHA1, auth_password_env: A, priv_password_env: P}`, "auth_protocol"},
		{`{id: u, driver: snmp, address: h, version: "3", username: m, security_level: high}`, "security_level"},
		{`{id: u, driver: snmp, address: h, community_file: /c, community_env: C}`, "not both"},
		{`{id: u, driver: snmp, address: h, community_file: /c, username: m}`, "for version 3"},
	} {
		_, err := checkYAML(t, tc.sensor)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.sensor, err, tc.err)
		}
	}
}
