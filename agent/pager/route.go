package pager

import (
	"path"
	"slices"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
)

// router chooses the receivers of an alarm: those of every route that matches it, or every receiver when
// there are no routes.
type router struct {
	routes []config.Route
	all    []string
}

func newRouter(cfg *config.PagerConfig) *router {
	r := &router{routes: cfg.Routes}
	for i := range cfg.Receivers {
		r.all = append(r.all, cfg.Receivers[i].Name)
	}
	return r
}

func (r *router) receivers(a *contract.Alarm) []string {
	if len(r.routes) == 0 {
		return r.all
	}
	var out []string
	for i := range r.routes {
		rt := &r.routes[i]
		if !matches(&rt.Match, a) {
			continue
		}
		for _, n := range rt.Receivers {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func matches(m *config.RouteMatch, a *contract.Alarm) bool {
	for _, c := range [...][2]string{{m.Gateway, a.Gateway}, {m.Site, a.Site}, {m.Rule, a.Rule}, {m.Sensor, a.Sensor},
		{m.Channel, a.Channel}, {m.Severity, a.Severity}} {
		if c[0] == "" {
			continue
		}
		if ok, _ := path.Match(c[0], c[1]); !ok {
			return false
		}
	}
	for k, p := range m.Labels {
		v, ok := a.Labels[k]
		if !ok {
			return false
		}
		if ok, _ := path.Match(p, v); !ok {
			return false
		}
	}
	return true
}
