package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// PagerConfig is the configuration file of `rackwatch pager`, the central service that turns the alarms of
// every gateway into pages. It is recognised by its top-level `pager:` key (see IsPager).
type PagerConfig struct {
	File      string     `yaml:"-"`
	Pager     Pager      `yaml:"pager"`
	Journal   Journal    `yaml:"journal"`
	Receivers []Receiver `yaml:"receivers"`
	Routes    []Route    `yaml:"routes"`
}

// Pager identifies one pager replica and says which brokers it follows.
type Pager struct {
	// ID names this replica; its MQTT client ids derive from it, so two replicas need two ids.
	ID       string `yaml:"id"`
	StateDir string `yaml:"state_dir"`
	HTTP     string `yaml:"http"`
	LogLevel string `yaml:"log_level"`
	// Brokers are the central brokers the gateways fan out to, with the same options as a gateway's.
	Brokers     []Broker      `yaml:"brokers"`
	TopicPrefix string        `yaml:"topic_prefix"`
	Gateways    GatewayHealth `yaml:"gateways"`
	Line        int
}

// GatewayHealth says when a gateway counts as dead.
type GatewayHealth struct {
	// OfflineGrace is how long a gateway's status must stay offline before it pages.
	OfflineGrace settings.Duration `yaml:"offline_grace"`
	// SilentAfter is how long a gateway whose status says online may say nothing at all; 0 turns the
	// check off (for gateways that publish no readings).
	SilentAfter *settings.Duration `yaml:"silent_after"`
	Line        int
}

// Receiver is one place pages go: exactly one of its kinds is set.
type Receiver struct {
	Name         string                `yaml:"name"`
	Alertmanager *AlertmanagerReceiver `yaml:"alertmanager"`
	PagerDuty    *PagerDutyReceiver    `yaml:"pagerduty"`
	Webhook      *WebhookReceiver      `yaml:"webhook"`
	Line         int
}

// Kind is "alertmanager", "pagerduty" or "webhook" ("" when none is set).
func (r *Receiver) Kind() string {
	switch {
	case r.Alertmanager != nil:
		return "alertmanager"
	case r.PagerDuty != nil:
		return "pagerduty"
	case r.Webhook != nil:
		return "webhook"
	}
	return ""
}

// AlertmanagerReceiver sends alerts to Prometheus Alertmanager's API v2. Like Prometheus, the pager sends
// every alert to every Alertmanager of a cluster (urls), not to one of them.
type AlertmanagerReceiver struct {
	URL  string   `yaml:"url"`
	URLs []string `yaml:"urls"`
	// ResendEvery is how often active alerts are sent again (Prometheus's resend delay); Alertmanager
	// resolves an alert that is not re-sent for a while.
	ResendEvery settings.Duration `yaml:"resend_every"`
	Timeout     settings.Duration `yaml:"timeout"`
	Line        int
}

// Endpoints is every Alertmanager URL of the receiver.
func (a *AlertmanagerReceiver) Endpoints() []string {
	if a.URL != "" {
		return append([]string{a.URL}, a.URLs...)
	}
	return a.URLs
}

// PagerDutyReceiver sends events to PagerDuty's Events API v2.
type PagerDutyReceiver struct {
	RoutingKeyFile string `yaml:"routing_key_file"`
	RoutingKeyEnv  string `yaml:"routing_key_env"`
	RoutingKey     string `yaml:"routing_key"` // rejected: present only to explain why
	// URL is the events endpoint; https://events.pagerduty.com/v2/enqueue by default (EU accounts use
	// events.eu.pagerduty.com).
	URL     string            `yaml:"url"`
	Timeout settings.Duration `yaml:"timeout"`
	Line    int
}

// RoutingKeySecret says where the integration's routing key is kept.
func (p *PagerDutyReceiver) RoutingKeySecret() settings.Secret {
	return settings.Secret{File: p.RoutingKeyFile, Env: p.RoutingKeyEnv}
}

// WebhookReceiver posts the alarm as JSON, signed with HMAC-SHA256 of a shared secret.
type WebhookReceiver struct {
	URL        string            `yaml:"url"`
	SecretFile string            `yaml:"secret_file"`
	SecretEnv  string            `yaml:"secret_env"`
	Secret     string            `yaml:"secret"` // rejected: present only to explain why
	Timeout    settings.Duration `yaml:"timeout"`
	Line       int
}

// SigningSecret says where the signing secret is kept.
func (w *WebhookReceiver) SigningSecret() settings.Secret {
	return settings.Secret{File: w.SecretFile, Env: w.SecretEnv}
}

// Route sends the alarms it matches to its receivers. An alarm goes to the receivers of every route that
// matches it.
type Route struct {
	Match     RouteMatch `yaml:"match"`
	Receivers []string   `yaml:"receivers"`
	Line      int
}

// RouteMatch selects alarms; every key set must match. Values are shell patterns ("dc1-*").
type RouteMatch struct {
	Gateway  string            `yaml:"gateway"`
	Site     string            `yaml:"site"`
	Rule     string            `yaml:"rule"`
	Sensor   string            `yaml:"sensor"`
	Channel  string            `yaml:"channel"`
	Severity string            `yaml:"severity"`
	Labels   map[string]string `yaml:"labels"`
	Line     int
}

// Defaults of the pager's config.
const (
	DefaultPagerStateDir = "/var/lib/rackwatch-pager"
	DefaultOfflineGrace  = 60 * time.Second
	DefaultSilentAfter   = 5 * time.Minute
	DefaultResendEvery   = time.Minute
	DefaultHTTPTimeout   = 10 * time.Second
	DefaultPagerDutyURL  = "https://events.pagerduty.com/v2/enqueue"
)

// IsPager reports whether the YAML document data is a pager config (its top level has a `pager:` key),
// for `rackwatch check`, which accepts both kinds. A document that does not parse is not a pager config:
// the gateway's loader then reports the syntax error.
func IsPager(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return false
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "pager" {
			return true
		}
	}
	return false
}

// LoadPager reads, decodes and checks a pager config file. On failure the error is settings.Errors: every
// problem, each with FILE:LINE. Secrets and TLS files are read later, by the pager (and `rackwatch check`),
// which report them with the same FILE:LINE.
func LoadPager(path string) (*PagerConfig, error) {
	data, err := readFile(path) // bounded, as a gateway's config is
	if err != nil {
		return nil, settings.Errors{{File: path, Msg: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}}
	}
	return ParsePager(path, data)
}

// ParsePager is LoadPager on bytes already read; path only names the file in errors.
func ParsePager(path string, data []byte) (*PagerConfig, error) {
	c := &collector{file: path}
	doc, ok := c.unmarshal(data)
	if !ok {
		return nil, c.errs
	}
	cfg := &PagerConfig{File: path}
	c.decode(doc, reflect.ValueOf(cfg).Elem(), "")
	if len(c.errs) == 0 {
		cfg.applyDefaults()
		cfg.validate(c)
	}
	if len(c.errs) > 0 {
		c.errs.Sort()
		return nil, c.errs
	}
	return cfg, nil
}

func (cfg *PagerConfig) applyDefaults() {
	p := &cfg.Pager
	if p.StateDir == "" {
		p.StateDir = DefaultPagerStateDir
	}
	if p.LogLevel == "" {
		p.LogLevel = "info"
	}
	if p.TopicPrefix == "" {
		p.TopicPrefix = DefaultTopicPrefix
	}
	if p.Gateways.OfflineGrace == 0 {
		p.Gateways.OfflineGrace = settings.Duration(DefaultOfflineGrace)
	}
	if p.Gateways.SilentAfter == nil {
		d := settings.Duration(DefaultSilentAfter)
		p.Gateways.SilentAfter = &d
	}
	for i := range p.Brokers {
		if p.Brokers[i].KeepAlive == 0 {
			p.Brokers[i].KeepAlive = settings.Duration(30 * time.Second)
		}
	}
	if cfg.Journal.MaxSize == 0 {
		cfg.Journal.MaxSize = DefaultJournalSize
	}
	for i := range cfg.Receivers {
		r := &cfg.Receivers[i]
		if a := r.Alertmanager; a != nil {
			if a.ResendEvery == 0 {
				a.ResendEvery = settings.Duration(DefaultResendEvery)
			}
			if a.Timeout == 0 {
				a.Timeout = settings.Duration(DefaultHTTPTimeout)
			}
		}
		if pd := r.PagerDuty; pd != nil {
			if pd.URL == "" {
				pd.URL = DefaultPagerDutyURL
			}
			if pd.Timeout == 0 {
				pd.Timeout = settings.Duration(DefaultHTTPTimeout)
			}
		}
		if w := r.Webhook; w != nil && w.Timeout == 0 {
			w.Timeout = settings.Duration(DefaultHTTPTimeout)
		}
	}
}

func (cfg *PagerConfig) validate(c *collector) {
	p := &cfg.Pager
	switch {
	case p.ID == "":
		c.add(p.Line, "pager.id is required: it names this replica (each replica needs its own)")
	case !reading.ValidID(p.ID):
		c.add(p.Line, "pager.id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT client ids)", p.ID)
	}
	switch p.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		c.add(p.Line, "pager.log_level %q: use debug, info, warn or error", p.LogLevel)
	}
	if p.HTTP != "" {
		if _, _, err := net.SplitHostPort(p.HTTP); err != nil {
			c.add(p.Line, "pager.http %q: expected host:port, e.g. 127.0.0.1:9109", p.HTTP)
		}
	}
	if strings.ContainsAny(p.TopicPrefix, "+#") || strings.HasPrefix(p.TopicPrefix, "/") || strings.HasSuffix(p.TopicPrefix, "/") {
		c.add(p.Line, "pager.topic_prefix %q: no '+', '#' or leading/trailing '/'", p.TopicPrefix)
	}
	if len(p.Brokers) == 0 {
		c.add(p.Line, "pager.brokers: at least one broker is needed: the pager follows the gateways there")
	}
	urls := map[string]int{}
	for i := range p.Brokers {
		b := &p.Brokers[i]
		// The gateway's broker checks, with messages naming this file's key.
		sub := &collector{file: c.file}
		validateBroker(sub, b)
		for _, e := range sub.errs {
			e.Msg = strings.Replace(e.Msg, "mqtt.brokers", "pager.brokers", 1)
			c.errs = append(c.errs, e)
		}
		if prev, dup := urls[b.URL]; dup && b.URL != "" {
			c.add(b.Line, "pager.brokers: %q is listed twice (first on line %d)", b.URL, prev)
		}
		urls[b.URL] = b.Line
		if b.ClientID != "" {
			c.add(b.Line, "pager.brokers: client_id is derived from pager.id (rackwatch-pager-<id>); two replicas with one client id would knock each other off the broker")
		}
	}
	g := &p.Gateways
	if g.OfflineGrace.D() < time.Second {
		c.add(g.Line, "pager.gateways.offline_grace %s: at least 1s", g.OfflineGrace)
	}
	if s := g.SilentAfter.D(); s != 0 && s < 5*time.Second {
		c.add(g.Line, "pager.gateways.silent_after %s: at least 5s, or 0 to turn the check off", s)
	}
	if cfg.Journal.MaxSize < 1<<20 {
		c.add(cfg.Journal.Line, "journal.max_size must be at least 1MiB")
	}

	if len(cfg.Receivers) == 0 {
		c.add(0, "receivers: at least one receiver is needed (alertmanager, pagerduty or webhook)")
	}
	names := map[string]int{}
	for i := range cfg.Receivers {
		r := &cfg.Receivers[i]
		switch {
		case r.Name == "":
			c.add(r.Line, "receiver: name is required (routes refer to it)")
		case !reading.ValidID(r.Name):
			c.add(r.Line, "receiver name %q: use only a-z, 0-9, '.', '_' and '-'", r.Name)
		}
		if prev, dup := names[r.Name]; dup && r.Name != "" {
			c.add(r.Line, "receiver %q is defined twice (first on line %d)", r.Name, prev)
		}
		names[r.Name] = r.Line
		kinds := 0
		for _, set := range []bool{r.Alertmanager != nil, r.PagerDuty != nil, r.Webhook != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			c.add(r.Line, "receiver %q: set exactly one of alertmanager, pagerduty or webhook", r.Name)
			continue
		}
		switch {
		case r.Alertmanager != nil:
			a := r.Alertmanager
			eps := a.Endpoints()
			if len(eps) == 0 {
				c.add(a.Line, "receiver %q: alertmanager needs url (or urls: every Alertmanager of the cluster)", r.Name)
			}
			seen := map[string]bool{}
			for _, u := range eps {
				if err := checkHTTPURL(u); err != nil {
					c.add(a.Line, "receiver %q: alertmanager url %q: %v", r.Name, u, err)
				}
				if seen[u] {
					c.add(a.Line, "receiver %q: alertmanager url %q is listed twice", r.Name, u)
				}
				seen[u] = true
			}
			if a.ResendEvery.D() < time.Second {
				c.add(a.Line, "receiver %q: resend_every %s: at least 1s", r.Name, a.ResendEvery)
			}
		case r.PagerDuty != nil:
			pd := r.PagerDuty
			if pd.RoutingKey != "" {
				c.add(pd.Line, "receiver %q: routing_key is not written in the config; use routing_key_file or routing_key_env", r.Name)
			}
			if err := pd.RoutingKeySecret().Check("routing_key_file or routing_key_env"); err != nil {
				c.add(pd.Line, "receiver %q: %v", r.Name, err)
			} else if !pd.RoutingKeySecret().Set() && pd.RoutingKey == "" {
				c.add(pd.Line, "receiver %q: pagerduty needs routing_key_file (the integration key of an Events API v2 integration)", r.Name)
			}
			if err := checkHTTPURL(pd.URL); err != nil {
				c.add(pd.Line, "receiver %q: pagerduty url %q: %v", r.Name, pd.URL, err)
			}
		case r.Webhook != nil:
			w := r.Webhook
			if w.URL == "" {
				c.add(w.Line, "receiver %q: webhook needs url", r.Name)
			} else if err := checkHTTPURL(w.URL); err != nil {
				c.add(w.Line, "receiver %q: webhook url %q: %v", r.Name, w.URL, err)
			}
			if w.Secret != "" {
				c.add(w.Line, "receiver %q: secret is not written in the config; use secret_file or secret_env", r.Name)
			}
			if err := w.SigningSecret().Check("secret_file or secret_env"); err != nil {
				c.add(w.Line, "receiver %q: %v", r.Name, err)
			} else if !w.SigningSecret().Set() && w.Secret == "" {
				c.add(w.Line, "receiver %q: webhook needs secret_file: every request is signed with it (HMAC-SHA256)", r.Name)
			}
		}
	}

	used := map[string]bool{}
	for i := range cfg.Routes {
		rt := &cfg.Routes[i]
		if len(rt.Receivers) == 0 {
			c.add(rt.Line, "route: receivers is required")
		}
		for _, n := range rt.Receivers {
			if _, ok := names[n]; !ok {
				c.add(rt.Line, "route: receiver %q is not defined under receivers", n)
			}
			used[n] = true
		}
		m := &rt.Match
		if m.Severity != "" {
			if ok, _ := path.Match(m.Severity, contract.Critical); !ok && !validPattern(m.Severity, contract.Info, contract.Warning) {
				c.add(m.Line, "route: match.severity %q matches none of info, warning, critical", m.Severity)
			}
		}
		for _, p := range []string{m.Gateway, m.Site, m.Rule, m.Sensor, m.Channel, m.Severity} {
			if _, err := path.Match(p, ""); err != nil {
				c.add(m.Line, "route: match pattern %q is malformed", p)
			}
		}
		for k, v := range m.Labels {
			if _, err := path.Match(v, ""); err != nil {
				c.add(m.Line, "route: match.labels.%s pattern %q is malformed", k, v)
			}
		}
	}
	if len(cfg.Routes) > 0 {
		for i := range cfg.Receivers {
			r := &cfg.Receivers[i]
			if r.Name != "" && !used[r.Name] {
				c.add(r.Line, "receiver %q is not used by any route, so it would never be called", r.Name)
			}
		}
	}
}

func validPattern(p string, values ...string) bool {
	for _, v := range values {
		if ok, _ := path.Match(p, v); ok {
			return true
		}
	}
	return false
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("expected http:// or https:// followed by host[:port]")
	}
	if u.User != nil {
		return errors.New("carries credentials; they would end up in logs")
	}
	return nil
}
