package outputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// SocketFile is the control socket's name in the state directory.
const SocketFile = "control.sock"

// SocketPath is where the agent with this state directory listens for local commands.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, SocketFile) }

// Control is the running control socket.
type Control struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

type connKey struct{}

// Serve listens on the unix socket path (mode 0660: the service user and its group, and root) and answers
// output tests until Close. A socket file left by a dead agent is replaced; a live agent's is not.
func Serve(path string, b *Bank, log *slog.Logger) (*Control, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another rackwatch is running with this state_dir", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /outputs/{id}/test", func(w http.ResponseWriter, r *http.Request) {
		d := 5 * time.Second
		if v := r.URL.Query().Get("for"); v != "" {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				writeJSON(w, http.StatusBadRequest, testReply{Error: fmt.Sprintf("for=%q: %v", v, err)})
				return
			}
		}
		by := peer(r.Context())
		log.Warn("output test requested", "output", r.PathValue("id"), "for", d, "by", by)
		evs, err := b.Test(r.Context(), r.PathValue("id"), d, by)
		rep := testReply{Events: evs}
		code := http.StatusOK
		if err != nil {
			rep.Error = err.Error()
			switch {
			case errors.Is(err, ErrUnknownOutput):
				code = http.StatusNotFound
			case errors.Is(err, ErrBusy):
				code = http.StatusConflict
			default:
				code = http.StatusUnprocessableEntity
			}
		}
		writeJSON(w, code, rep)
	})
	mux.HandleFunc("GET /outputs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.States())
	})
	c := &Control{ln: ln, path: path, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) }}}
	go c.srv.Serve(ln)
	return c, nil
}

// Close stops listening and removes the socket file.
func (c *Control) Close() error {
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.srv.Shutdown(ctx)
	os.Remove(c.path)
	return err
}

// peer names the local user on the other end of the socket, for the action event's "by".
func peer(ctx context.Context) string {
	uc, ok := ctx.Value(connKey{}).(*net.UnixConn)
	if !ok {
		return "local"
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "local"
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err != nil || cred == nil {
		return "local"
	}
	if u, err := user.LookupId(strconv.Itoa(int(cred.Uid))); err == nil {
		return "local:" + u.Username
	}
	return "local:uid" + strconv.Itoa(int(cred.Uid))
}

type testReply struct {
	Events []contract.Action `json:"events"`
	Error  string            `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// ErrNoAgent means no agent answers on the control socket: it is not running (or runs with another
// state_dir).
var ErrNoAgent = errors.New("no rackwatch agent is running with this state_dir")

// TestThroughAgent asks the agent listening on the socket path to test an output for d, and returns the
// action events of the test.
func TestThroughAgent(ctx context.Context, path, id string, d time.Duration) ([]contract.Action, error) {
	cl := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", path)
	}}}
	u := "http://rackwatch/outputs/" + url.PathEscape(id) + "/test?for=" + url.QueryEscape(d.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNoAgent
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%s: %w (run as root or as a member of the service's group)", path, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	var rep testReply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("control socket: bad answer (%s): %w", resp.Status, err)
	}
	if rep.Error != "" {
		return rep.Events, errors.New(rep.Error)
	}
	return rep.Events, nil
}
