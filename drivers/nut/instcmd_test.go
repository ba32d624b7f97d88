package nut

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func openInstCmd(t *testing.T, yaml string) (driver.OutputInfo, driver.Actuator) {
	t.Helper()
	o, _ := configtest.Output(t, yaml)
	ty := instCmdType()
	info, err := ty.Check(o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ty.Open(context.Background(), driver.OutputEnv{Output: o})
	if err != nil {
		t.Fatal(err)
	}
	return info, a
}

func passFile(t *testing.T, pass string) string {
	p := filepath.Join(t.TempDir(), "upsd.pass")
	if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func setCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestFakeInstCmd: the session upscmd would have, line by line, against the in-process upsd.
func TestFakeInstCmd(t *testing.T) {
	f := newFakeUpsd(t, func(req string) []string {
		switch {
		case strings.HasPrefix(req, "USERNAME "), strings.HasPrefix(req, "PASSWORD "):
			return []string{"OK"}
		case req == "INSTCMD ups1 beeper.enable":
			return []string{"OK"}
		case req == "INSTCMD ups1 beeper.disable":
			return []string{"OK TRACKING 1bd31808-cb49-4aec-9d75-d056e6f018d2"} // NUT 2.8 with tracking on
		case req == "LOGOUT":
			return []string{"OK Goodbye"}
		}
		return []string{"ERR UNKNOWN-COMMAND"}
	})
	info, a := openInstCmd(t, `{id: ups-beeper, type: nut, address: "`+f.ln.Addr().String()+`", ups: ups1, username: admin, password_file: `+
		passFile(t, "s3cret")+`, on: beeper.enable, off: beeper.disable}`)
	if info.OneShot || !strings.Contains(info.Describe, "INSTCMD ups1 beeper.enable") {
		t.Errorf("info %+v", info)
	}
	detail, err := a.Set(setCtx(t), true, driver.Cause{})
	if err != nil || detail != "ups1 beeper.enable: upsd OK" {
		t.Fatalf("%q %v", detail, err)
	}
	if _, err := a.Set(setCtx(t), false, driver.Cause{}); err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, reqs = f.stats(); len(reqs) >= 8 { // the last LOGOUT is read by the fake after Set returned
			break
		}
	}
	// Each command is its own session, ended by LOGOUT (which the fake may log after the next session
	// began: the client does not wait for upsd's goodbye).
	var lines []string
	logouts := 0
	for _, r := range reqs {
		if r == "LOGOUT" {
			logouts++
			continue
		}
		lines = append(lines, r)
	}
	want := []string{"USERNAME admin", `PASSWORD "s3cret"`, "INSTCMD ups1 beeper.enable",
		"USERNAME admin", `PASSWORD "s3cret"`, "INSTCMD ups1 beeper.disable"}
	if strings.Join(lines, "|") != strings.Join(want, "|") || logouts != 2 {
		t.Errorf("requests\n%q\nwant\n%q and two LOGOUTs", reqs, want)
	}
}

func TestFakeInstCmdErrors(t *testing.T) {
	f := newFakeUpsd(t, func(req string) []string {
		if strings.HasPrefix(req, "INSTCMD") {
			return []string{"ERR ACCESS-DENIED"}
		}
		return []string{"OK"}
	})
	info, a := openInstCmd(t, `{id: ups-off, type: nut, address: "`+f.ln.Addr().String()+`", ups: ups1, username: admin, password_file: `+
		passFile(t, "x")+`, on: load.off}`)
	if !info.OneShot {
		t.Error("a command without off is not one-shot")
	}
	_, err := a.Set(setCtx(t), true, driver.Cause{})
	if err == nil || !strings.Contains(err.Error(), "ACCESS-DENIED") || !strings.Contains(err.Error(), "`instcmds = load.off`") {
		t.Errorf("%v", err)
	}
	if d, err := a.Set(setCtx(t), false, driver.Cause{}); err != nil || !strings.Contains(d, "no off command") {
		t.Errorf("off of a one-shot: %q %v", d, err)
	}
	// upsd that never answers: the output's timeout ends the session.
	f.setReply(func(string) []string { time.Sleep(time.Hour); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Set(ctx, true, driver.Cause{}); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("hung upsd: %v", err)
	}
}

func TestInstCmdOptions(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`{id: x, type: nut, address: h, ups: u, on: beeper.enable}`, "username and password_file are required"},
		{`{id: x, type: nut, address: h, ups: u, username: a, password: p, on: beeper.enable}`, "the password is not written in the config"},
		{`{id: x, type: nut, address: h, ups: u, username: a, password_file: /p}`, "on is required"},
		{`{id: x, type: nut, address: h, ups: u, username: a, password_file: /p, on: "load off"}`, "not a NUT command name"},
		{`{id: x, type: nut, ups: u, username: a, password_file: /p, on: load.off}`, "address is required"},
	} {
		o, _ := configtest.Output(t, c.yaml)
		if _, err := instCmdType().Check(o); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.yaml:4") {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
	o, _ := configtest.Output(t, `{id: x, type: nut, address: h, ups: u, username: a, password_file: /nonexistent/pass, on: load.off}`)
	if _, err := instCmdType().Open(context.Background(), driver.OutputEnv{Output: o}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("a missing password file is found at open: %v", err)
	}
}

// TestUpsdInstCmd sends an instant command to Debian's real upsd. dummy-ups offers no instant commands, so
// the answer is CMD-NOT-SUPPORTED: upsd took USERNAME and PASSWORD (each answered OK, or the session would
// have failed there), parsed the INSTCMD line and looked the command up. (upsd 2.8.0 looks the command up
// before it checks the user's rights, so refused credentials are tested against the fake above.) An
// unknown UPS is UNKNOWN-UPS.
func TestUpsdInstCmd(t *testing.T) {
	requireNUT(t)
	addr, _ := startNUTUsers(t, "ups.status: OL\n", "[admin]\n\tpassword = secret\n\tinstcmds = ALL\n")
	yaml := func(ups string) string {
		return `{id: ups-beeper, type: nut, address: "` + addr + `", ups: ` + ups + `, username: admin, password_file: ` + passFile(t, "secret") +
			`, on: beeper.enable, off: beeper.disable}`
	}
	_, good := openInstCmd(t, yaml("dummy"))
	_, bad := openInstCmd(t, yaml("nosuch"))
	deadline := time.Now().Add(30 * time.Second) // upsd starting up
	for {
		_, err := good.Set(setCtx(t), true, driver.Cause{})
		if err != nil && strings.Contains(err.Error(), "CMD-NOT-SUPPORTED") {
			if !strings.Contains(err.Error(), "upscmd -l dummy") {
				t.Errorf("no hint: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("err %v, want CMD-NOT-SUPPORTED", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := bad.Set(setCtx(t), true, driver.Cause{}); err == nil || !strings.Contains(err.Error(), "UNKNOWN-UPS") {
		t.Errorf("unknown UPS: %v", err)
	}
}
