package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/ratelog"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Inbound is a command as it arrived on …/cmd/<kind>, not yet parsed: the agent parses, checks and
// answers it.
type Inbound struct {
	Kind    string // the last topic level: "ack", "shelve", …
	Payload []byte
	Broker  string // the broker it came from
}

// JournalDir is where the journal lives inside the gateway's state_dir.
func JournalDir(stateDir string) string { return filepath.Join(stateDir, "journal") }

// Tunables; variables so that tests can shrink them.
var (
	maxInFlight     = 32
	readingsQueue   = 256
	resultsQueue    = 16
	checkpointEvery = time.Second // also how often a journal that cannot write is retried
	backoffBase     = 500 * time.Millisecond
	backoffMax      = 30 * time.Second
	offlineTimeout  = 2 * time.Second
	// writeTimeout bounds one write to a broker that stopped reading; past it the connection is dropped.
	writeTimeout = 10 * time.Second
	// journalFS is the journal's file system (tests inject faults through it).
	journalFS journal.FS = journal.OS
	// logEvery is how often a repeated log line of one kind is written (the others are counted).
	logEvery = time.Minute
)

// Delivery is the running fan-out. Create it with Open and stop it with Close.
type Delivery struct {
	cfg    *config.Config
	log    *slog.Logger
	j      *journal.Journal
	topics contract.Topics

	targets  []*target
	ha       haState // Home Assistant discovery (discovery.go)
	statesMu sync.Mutex
	states   map[string][]byte // alarm key → JSON of its latest transition
	cmdMu    sync.RWMutex      // guards sending on cmds against Close closing it
	cmdsDone bool
	cmds     chan Inbound
	filter   filter
	cmdsLost atomic.Uint64
	// cmdsRefused counts commands refused before they were read: too large.
	cmdsRefused atomic.Uint64
	ratelog     *ratelog.Limiter

	runCtx context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// Open opens the journal in the gateway's state_dir and starts one connection loop per broker in
// cfg.MQTT.Brokers and, when cfg.MQTT.EmbeddedBroker is set, one more to that address (start the
// embedded broker first; when it was started on port 0, put its real address in the config). It does
// not wait for any broker: an unreachable broker is retried in the background and reported by Health.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Delivery, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "delivery")
	j, err := journal.Open(JournalDir(cfg.Gateway.StateDir), journal.Options{MaxSize: int64(cfg.Journal.MaxSize), Log: log, FS: journalFS})
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	topics := contract.NewTopics(cfg.MQTT.TopicPrefix, cfg.Gateway.ID)
	d := &Delivery{
		cfg: cfg, log: log, j: j, topics: topics,
		cmds: make(chan Inbound, 64), states: map[string][]byte{}, ratelog: ratelog.New(logEvery, 0),
	}
	d.filter.init(cfg.MQTT.Readings, topics)
	d.runCtx, d.stop = context.WithCancel(context.WithoutCancel(ctx))

	var names []string
	for i := range cfg.MQTT.Brokers {
		t := d.newTarget(&cfg.MQTT.Brokers[i])
		d.targets = append(d.targets, t)
		names = append(names, t.name)
	}
	if addr := cfg.MQTT.EmbeddedBroker; addr != "" && !slices.Contains(names, "tcp://"+dialable(addr)) {
		// (Listed among the brokers as well: one connection, or the two would knock each other off.)
		t := d.newTarget(&config.Broker{URL: "tcp://" + dialable(addr), KeepAlive: settings.Duration(30 * time.Second)})
		d.targets = append(d.targets, t)
		names = append(names, t.name)
	}
	j.SetBrokers(names)
	for _, t := range d.targets {
		t.acked.Store(t.cursor())
		if t.setupErr != nil {
			log.Error("broker not usable; alarms for it stay in the journal until the config is fixed",
				"broker", t.name, "err", t.setupErr)
			continue
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t.run(d.runCtx)
		}()
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.checkpoints(d.runCtx)
	}()
	return d, nil
}

// dialable turns a listen address into one a client can dial: an empty or unspecified host becomes
// loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// checkpoints saves the cursors and, while the journal cannot write, retries it, once a second.
func (d *Delivery) checkpoints(ctx context.Context) {
	tk := time.NewTicker(checkpointEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if d.j.Err() != nil && d.j.Retry() == nil {
				for _, t := range d.targets {
					t.poke()
				}
			}
			if err := d.j.Checkpoint(); err != nil {
				d.ratelog.Log(d.log, slog.LevelWarn, "cursors", "saving journal cursors", "err", err)
			}
		}
	}
}

// JournalErr says why transitions are not being written to disk now (they are delivered from memory
// meanwhile), or nil when the journal works.
func (d *Delivery) JournalErr() error {
	if err := d.j.Err(); err != nil {
		return fmt.Errorf("journal %s cannot write: %w", d.j.Dir(), err)
	}
	return nil
}

// Transitions appends the alarms to the journal and returns once they are on disk (one fsync for the
// batch, shared with concurrent callers). Publishing happens afterwards, per broker, in order.
//
// When the journal cannot write (a full or failing disk), the transitions are delivered all the same,
// from memory, and the error wraps journal.ErrNotDurable.
func (d *Delivery) Transitions(as []contract.Alarm) error {
	if len(as) == 0 {
		return nil
	}
	recs := make([]journal.Record, len(as))
	for i := range as {
		b, err := json.Marshal(as[i])
		if err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
		recs[i] = journal.Record{Time: as[i].Time, Key: as[i].Key, Data: b}
	}
	// The state map is updated in journal order and before a broker can read the records, so a broker
	// republishing current states never sends one older than a transition it already has.
	err := d.j.AppendThen(recs, func(recs []journal.Record) {
		d.statesMu.Lock()
		for i := range recs {
			d.states[recs[i].Key] = recs[i].Data
		}
		d.statesMu.Unlock()
	})
	if err != nil && !errors.Is(err, journal.ErrNotDurable) {
		return fmt.Errorf("delivery: %w", err)
	}
	for _, t := range d.targets {
		t.poke()
	}
	if err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	return nil
}

// Commands delivers the commands (…/cmd/ack, shelve, unshelve, output-test) received from every broker
// the gateway takes commands from (commands: true, the default). Read it continuously: when it is full,
// further commands are dropped and counted. Close closes it.
func (d *Delivery) Commands() <-chan Inbound { return d.cmds }

// CommandStats counts what the delivery did with commands before the agent saw them.
type CommandStats struct {
	// TooLarge were refused (and answered) for their size; Dropped did not fit in the queue.
	TooLarge, Dropped uint64
	// Ignored are the commands ignored unread, per broker: Why is "commands_false" (the broker's config
	// says commands: false) or "retained".
	Ignored []Ignored
}

// Ignored is a count of commands ignored from one broker for one reason.
type Ignored struct {
	Broker, Why string
	N           uint64
}

// CommandStats returns the command counters, every broker listed.
func (d *Delivery) CommandStats() CommandStats {
	s := CommandStats{TooLarge: d.cmdsRefused.Load(), Dropped: d.cmdsLost.Load()}
	for _, t := range d.targets {
		if !t.commands {
			s.Ignored = append(s.Ignored, Ignored{Broker: t.name, Why: "commands_false", N: t.ignored.Load()})
		}
		s.Ignored = append(s.Ignored, Ignored{Broker: t.name, Why: "retained", N: t.retained.Load()})
	}
	return s
}

func (d *Delivery) command(t *target, topic string, payload []byte, retained bool) {
	broker := t.name
	kind := topic[strings.LastIndexByte(topic, '/')+1:]
	if !t.commands {
		// Commands are taken only from the brokers the config chooses (a dashboards' broker others may
		// publish to is not one): ignored unread, counted, no answer.
		t.ignored.Add(1)
		d.ratelog.Log(d.log, slog.LevelWarn, "ignored:"+broker, "ignoring a command from a broker with commands: false",
			"broker", broker, "topic", contract.Printable(topic))
		return
	}
	if retained {
		// A retained command would be replayed on every reconnect and acknowledge things again.
		t.retained.Add(1)
		d.ratelog.Log(d.log, slog.LevelWarn, "retained:"+broker, "ignoring a retained command; publish commands without the retain flag",
			"broker", broker, "topic", contract.Printable(topic))
		return
	}
	if len(payload) > contract.MaxCommandSize {
		// Refused by its size alone, before anything copies or parses it.
		d.cmdsRefused.Add(1)
		err := fmt.Errorf("%s: %w: payload of %d bytes is larger than %d", contract.Printable(kind), contract.ErrBadCommand,
			len(payload), contract.MaxCommandSize)
		d.ratelog.Log(d.log, slog.LevelWarn, "toolarge:"+broker, "command refused", "broker", broker, "err", err)
		d.Answer(contract.NewResult(contract.Command{Kind: kind}, err))
		return
	}
	d.cmdMu.RLock()
	defer d.cmdMu.RUnlock()
	if d.cmdsDone {
		return
	}
	select {
	case d.cmds <- Inbound{Kind: kind, Payload: append([]byte(nil), payload...), Broker: broker}:
	default:
		d.cmdsLost.Add(1)
		d.ratelog.Log(d.log, slog.LevelWarn, "cmdqueue", "command queue full; dropping commands", "broker", broker, "topic", contract.Printable(topic))
	}
}

// Answer publishes a command's result on …/cmd/result (QoS 1, not retained) to every connected broker. It
// never blocks: the result is queued for each broker's own goroutine (a broker that stopped reading must
// not hold up the rules loop that answers), and dropped, counted, where that queue is full.
func (d *Delivery) Answer(r contract.Result) {
	m := mqtt.Message{Topic: d.topics.Result(), Payload: r.JSON(), QoS: 1}
	for _, t := range d.targets {
		if t.current() == nil {
			continue
		}
		select {
		case t.results <- m:
		default:
			t.resultsLost.Add(1)
		}
	}
}

// Health is nil when every broker is connected and the journal writes; otherwise it names each broker
// that is not connected and why (wrong CA, refused login, connection refused, …), and why the journal
// cannot write.
func (d *Delivery) Health() error {
	var errs []error
	if err := d.JournalErr(); err != nil {
		errs = append(errs, fmt.Errorf("%w (%d transitions held in memory, delivered from there)", err, d.j.Stats().Memory))
	}
	for _, t := range d.targets {
		if err := t.health(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Flush waits until every broker has acknowledged every journaled transition, or ctx ends; then it
// returns an error naming the brokers still behind and by how much. This is the last gasp before
// shutdown (and on a UPS low-battery alarm): brokers waiting out a reconnect backoff are retried at once.
func (d *Delivery) Flush(ctx context.Context) error {
	// A broker in a long reconnect backoff would let the deadline pass unused: try them all now.
	for _, t := range d.targets {
		t.hurry()
	}
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		last := d.j.LastID()
		var behind []string
		for _, t := range d.targets {
			if a := t.acked.Load(); a < last {
				behind = append(behind, fmt.Sprintf("%s: %d pending", t.name, t.pending(last)))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delivery: flush: %w: %s", ctx.Err(), strings.Join(behind, "; "))
		case <-tk.C:
		}
	}
}

// Close flushes (until ctx ends), publishes the retained "offline" status, disconnects cleanly (so the
// brokers discard the Last Will) and closes the journal. What was not acknowledged stays in the journal
// for the next start.
func (d *Delivery) Close(ctx context.Context) error {
	if d.closed.Swap(true) {
		return nil
	}
	ferr := d.Flush(ctx)
	if ferr != nil {
		d.log.Warn("shutting down with transitions not yet delivered; they stay in the journal", "err", ferr)
	}
	d.stop()
	d.wg.Wait()
	d.cmdMu.Lock()
	d.cmdsDone = true
	close(d.cmds)
	d.cmdMu.Unlock()
	err := d.j.Close()
	if err != nil {
		err = fmt.Errorf("delivery: %w", err)
	}
	return errors.Join(ferr, err)
}

func statusPayload(state string, at time.Time) []byte {
	return contract.StatusJSON(state, buildinfo.Version, at)
}

// brokerSettings turns one broker's config into connection settings; an error is a configuration
// problem (unreadable CA, missing password).
func (d *Delivery) brokerSettings(b *config.Broker) (mqtt.Config, error) {
	mc := mqtt.Config{URL: b.URL, ClientID: b.ClientID, Username: b.Username, KeepAlive: b.KeepAlive.D(), WriteTimeout: writeTimeout}
	if mc.ClientID == "" {
		mc.ClientID = "rackwatch-" + d.cfg.Gateway.ID
	}
	err := mc.Credentials(b.CAFile, b.CertFile, b.KeyFile, b.ServerName, b.PasswordSecret())
	return mc, err
}

// ready reports whether every broker is connected with no backlog (tests wait for it).
func (d *Delivery) ready() bool {
	for _, t := range d.targets {
		t.mu.Lock()
		ok := t.client != nil && !t.catchingUp
		t.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// Restore tells the delivery the current state of alarms restored at start (from the agent's state
// file), so that every broker is sent them as retained states after connecting, even a broker that lost
// its retained messages. An alarm already seen by Transitions keeps its newer state.
func (d *Delivery) Restore(as []contract.Alarm) error {
	d.statesMu.Lock()
	defer d.statesMu.Unlock()
	for i := range as {
		if _, ok := d.states[as[i].Key]; ok {
			continue
		}
		b, err := json.Marshal(as[i])
		if err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
		d.states[as[i].Key] = b
	}
	return nil
}

// republish sends every known alarm state, retained, to one broker (not on …/events: these are not new
// transitions). Best effort: the journal still delivers every transition.
func (d *Delivery) republish(cl *mqtt.Client) {
	// Snapshot first: publishing may block on a slow link and must not hold up Transitions. A state
	// newer than the snapshot is in the journal and follows on this connection, in order.
	d.statesMu.Lock()
	ms := make([]mqtt.Message, 0, len(d.states))
	for k, b := range d.states {
		ms = append(ms, mqtt.Message{Topic: d.topics.Alarm(k), Payload: b, QoS: 1, Retain: true})
	}
	d.statesMu.Unlock()
	for _, m := range ms {
		cl.Publish(m)
	}
}
