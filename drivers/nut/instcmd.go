package nut

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// OutputName is the output type in the config.
const OutputName = "nut"

// InstCmdOptions are the keys of a `nut` output: a NUT instant command sent through upsd (`upscmd` does the
// same), with a upsd user allowed to send it (`instcmds = …` in upsd.users).
type InstCmdOptions struct {
	Address      string `yaml:"address"`
	UPS          string `yaml:"ups"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"` // rejected: present only to explain why
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	StartTLS     bool   `yaml:"starttls"`
	CAFile       string `yaml:"ca_file"`
	ServerName   string `yaml:"server_name"`
	// On is the command sent when the output is switched on (beeper.enable, load.off, shutdown.return,
	// test.battery.start.quick); Off the one sent when it is switched off (beeper.disable), or nothing:
	// a command without an off is one-shot.
	On  string `yaml:"on"`
	Off string `yaml:"off"`
}

func (o *InstCmdOptions) conn() *Options {
	return &Options{Address: o.Address, UPS: o.UPS, Username: o.Username, Password: o.Password,
		PasswordFile: o.PasswordFile, PasswordEnv: o.PasswordEnv, StartTLS: o.StartTLS, CAFile: o.CAFile, ServerName: o.ServerName}
}

// validCmd reports whether s looks like a NUT command name (lower case words joined by dots).
func validCmd(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeInstCmd(out *driver.Output) (*InstCmdOptions, error) {
	o := &InstCmdOptions{}
	if err := out.Options.Decode(o); err != nil {
		return nil, err
	}
	probs := settings.NewProblems(out.Options)
	checkConnection(o.conn(), probs.Add)
	if o.Username == "" && o.PasswordFile == "" && o.PasswordEnv == "" {
		probs.Add("username", "output %q: username and password_file are required: upsd takes instant commands only from a user with instcmds in upsd.users", out.ID)
	}
	switch {
	case o.On == "":
		probs.Add("on", "output %q: on is required: the instant command to send, e.g. beeper.enable (`upscmd -l UPS` lists them)", out.ID)
	case !validCmd(o.On):
		probs.Add("on", "output %q: on %q is not a NUT command name such as beeper.enable", out.ID, o.On)
	}
	if o.Off != "" && !validCmd(o.Off) {
		probs.Add("off", "output %q: off %q is not a NUT command name such as beeper.disable", out.ID, o.Off)
	}
	return o, probs.Err()
}

func instCmdType() driver.OutputType {
	return driver.OutputType{
		Name: OutputName,
		Check: func(out *driver.Output) (driver.OutputInfo, error) {
			o, err := decodeInstCmd(out)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			d := fmt.Sprintf("INSTCMD %s %s on upsd %s", o.UPS, o.On, mustHostPort(o.Address))
			if o.Off != "" {
				d += ", off: " + o.Off
			}
			return driver.OutputInfo{Describe: d, OneShot: o.Off == ""}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			o, err := decodeInstCmd(env.Output)
			if err != nil {
				return nil, err
			}
			// Check the password file now, so a missing one is reported at start, not at the first alarm.
			if _, err := New(o.conn(), env.Logger()); err != nil {
				return nil, err
			}
			return &InstCmd{o: o, log: env.Logger()}, nil
		},
	}
}

// InstCmd is an opened nut output. Each command is one short session with upsd (connect, log in, INSTCMD,
// LOGOUT): commands are rare, and a session kept open would be one more thing to keep alive.
type InstCmd struct {
	o   *InstCmdOptions
	log *slog.Logger
}

// Set implements driver.Actuator: it sends the on (or off) command and waits for upsd's OK.
func (c *InstCmd) Set(ctx context.Context, on bool, _ driver.Cause) (string, error) {
	cmd := c.o.On
	if !on {
		cmd = c.o.Off
		if cmd == "" {
			return "nothing to send: no off command", nil
		}
	}
	d, err := New(c.o.conn(), c.log)
	if err != nil {
		return "", err
	}
	defer d.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	line := "INSTCMD " + c.o.UPS + " " + cmd
	late := func(err error) error {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return fmt.Errorf("nut: %s: no answer to %s: %w", d.addr, line, context.DeadlineExceeded)
		}
		return err
	}
	if err := d.connect(ctx, deadline); err != nil {
		d.drop()
		return "", late(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = d.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := d.command(line, "OK"); err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			switch se.Code {
			case "ACCESS-DENIED":
				err = fmt.Errorf("%w; the user %s needs `instcmds = %s` (or ALL) in upsd.users", err, c.o.Username, cmd)
			case "CMD-NOT-SUPPORTED":
				err = fmt.Errorf("%w; `upscmd -l %s` lists the commands this UPS's driver offers", err, c.o.UPS)
			}
		}
		return line, late(err)
	}
	return fmt.Sprintf("%s: upsd OK", strings.TrimPrefix(line, "INSTCMD ")), nil
}

// Close implements driver.Actuator.
func (c *InstCmd) Close() error { return nil }
