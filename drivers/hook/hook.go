package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Name is the output type in the config.
const Name = "exec"

// Options are the keys of an `exec` output.
type Options struct {
	// On is the argv run when the output is switched on; Off the one run when it is switched off (none:
	// one-shot).
	On  []string `yaml:"on"`
	Off []string `yaml:"off"`
	// MinInterval is the least time between two runs' starts (default 5s); a run asked for sooner is
	// refused and retried by the agent.
	MinInterval *settings.Duration `yaml:"min_interval"`
}

// DefaultMinInterval spaces a hook's runs when the config says nothing.
const DefaultMinInterval = 5 * time.Second

// Path is the PATH hooks run with: the system's directories, nothing from the agent's environment.
const Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxOutput bounds what is kept of a hook's output.
const maxOutput = 4 << 10

func checkArgv(p *settings.Problems, id, key string, argv []string) {
	if len(argv) == 0 {
		return
	}
	if !filepath.IsAbs(argv[0]) {
		p.Add(key, "output %q: %s: give the program's absolute path (%q): hooks run without a shell or PATH lookup", id, key, argv[0])
	}
	for _, a := range argv {
		if strings.ContainsRune(a, 0) {
			p.Add(key, "output %q: %s: an argument contains NUL", id, key)
		}
	}
}

func decode(o *driver.Output) (*Options, time.Duration, error) {
	opt := &Options{}
	if err := o.Options.Decode(opt); err != nil {
		return nil, 0, err
	}
	p := settings.NewProblems(o.Options)
	if len(opt.On) == 0 {
		p.Add("on", "output %q: on is required: the program and its arguments, as a list: [/usr/local/bin/bms-ctl, charge, off]", o.ID)
	}
	checkArgv(p, o.ID, "on", opt.On)
	checkArgv(p, o.ID, "off", opt.Off)
	every := DefaultMinInterval
	if opt.MinInterval != nil {
		every = opt.MinInterval.D()
		if every < 0 || every > time.Hour {
			p.Add("min_interval", "output %q: min_interval %s: use 0 to 1h", o.ID, every)
		}
	}
	return opt, every, p.Err()
}

// OutputType is the `exec` output type.
func OutputType() driver.OutputType {
	return driver.OutputType{
		Name: Name,
		Check: func(o *driver.Output) (driver.OutputInfo, error) {
			opt, _, err := decode(o)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			d := "runs " + strings.Join(opt.On, " ")
			if len(opt.Off) > 0 {
				d += "; off runs " + strings.Join(opt.Off, " ")
			}
			return driver.OutputInfo{Describe: d, OneShot: len(opt.Off) == 0}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			opt, every, err := decode(env.Output)
			if err != nil {
				return nil, err
			}
			for _, argv := range [][]string{opt.On, opt.Off} {
				if len(argv) == 0 {
					continue
				}
				if err := executable(argv[0]); err != nil {
					return nil, fmt.Errorf("exec: output %s: %w", env.Output.ID, err)
				}
			}
			return &Hook{id: env.Output.ID, on: opt.On, off: opt.Off, every: every, now: time.Now}, nil
		},
	}
}

func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// Hook is an opened exec output.
type Hook struct {
	id      string
	on, off []string
	every   time.Duration
	now     func() time.Time

	running sync.Mutex
	mu      sync.Mutex
	last    time.Time // start of the last run
}

// Errors of a run that did not start.
var (
	ErrRunning     = errors.New("exec: the hook is still running")
	ErrRateLimited = errors.New("exec: rate limited")
)

// Env builds a hook's environment: PATH, and the cause's fields as RACKWATCH_* variables.
func Env(output string, on bool, c driver.Cause) []string {
	state := contract.OutputOff
	if on {
		state = contract.OutputOn
	}
	env := []string{
		"PATH=" + Path,
		"RACKWATCH_OUTPUT=" + output,
		"RACKWATCH_STATE=" + state,
		"RACKWATCH_BY=" + c.By,
		"RACKWATCH_GATEWAY=" + c.Gateway,
		"RACKWATCH_SITE=" + c.Site,
		"RACKWATCH_ALARM=" + c.Alarm,
		"RACKWATCH_RULE=" + c.Rule,
		"RACKWATCH_SENSOR=" + c.Sensor,
		"RACKWATCH_CHANNEL=" + c.Channel,
		"RACKWATCH_SEVERITY=" + c.Severity,
		"RACKWATCH_ALARM_STATE=" + c.AlarmState,
		"RACKWATCH_EVENT=" + c.Event,
		"RACKWATCH_MESSAGE=" + c.Message,
		"RACKWATCH_VALUE=" + c.Value,
		"RACKWATCH_UNIT=" + c.Unit,
		"RACKWATCH_SEQ=" + strconv.FormatUint(c.Seq, 10),
		"RACKWATCH_EPISODE=" + strconv.FormatUint(c.Episode, 10),
		"RACKWATCH_TIME=",
	}
	if !c.Time.IsZero() {
		env[len(env)-1] += c.Time.UTC().Format(contract.TimeFormat)
	}
	for i, kv := range env {
		env[i] = strings.ToValidUTF8(strings.ReplaceAll(kv, "\x00", ""), "?")
	}
	return env
}

// Set implements driver.Actuator: it runs the on (or off) argv and waits for it to exit, at most until
// ctx ends, when its whole process group is killed.
func (h *Hook) Set(ctx context.Context, on bool, c driver.Cause) (string, error) {
	argv := h.on
	if !on {
		argv = h.off
		if len(argv) == 0 {
			return "nothing to run: no off command", nil
		}
	}
	if !h.running.TryLock() {
		return "", ErrRunning
	}
	defer h.running.Unlock()
	h.mu.Lock()
	now := h.now()
	if !h.last.IsZero() && now.Sub(h.last) < h.every {
		ago := now.Sub(h.last)
		h.mu.Unlock()
		return "", fmt.Errorf("%w: the last run started %s ago; at most one run every %s", ErrRateLimited, ago.Round(time.Millisecond), h.every)
	}
	h.last = now
	h.mu.Unlock()
	out, err := Run(ctx, argv, Env(h.id, on, c))
	detail := strings.Join(argv, " ")
	if out != "" {
		detail += ": " + out
	}
	return detail, err
}

// Run runs argv with env in a process group of its own, without a shell, and returns its combined output
// (at most 4 KiB, trimmed). When ctx ends first the group is killed.
func Run(ctx context.Context, argv, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a grandchild holding the output pipe must not keep us waiting
	var out limited
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(strings.ToValidUTF8(out.b.String(), "?"))
	if out.cut {
		text += " …"
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("exec: %s killed: %w", argv[0], ctx.Err())
	}
	return text, err
}

// limited keeps the first maxOutput bytes written to it.
type limited struct {
	b   bytes.Buffer
	cut bool
}

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.b.Len(); room < len(p) {
		l.cut = true
		if room > 0 {
			l.b.Write(p[:room])
		}
		return len(p), nil
	}
	return l.b.Write(p)
}

// Close implements driver.Actuator.
func (h *Hook) Close() error { return nil }

// Register adds the exec output type.
func Register(r *driver.Registry) { r.AddOutput(OutputType()) }
