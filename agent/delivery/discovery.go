package delivery

import (
	"strings"
	"sync"

	"github.com/rackwatch/rackwatch/agent/homeassistant"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// Home Assistant discovery (mqtt.home_assistant): every broker gets the gateway's discovery configs,
// retained, when it connects and after a reload; the configs it retains for entities that are no longer
// configured come back through a subscription to the gateway's own discovery topics and are cleared.

// haState is the current discovery, shared by the brokers.
type haState struct {
	mu       sync.Mutex
	disc     *homeassistant.Discovery
	removals []homeassistant.Message // what the last reload removed
}

// haQueue is a broker's discovery work, done on its own goroutine: the configs to (re)publish, and the
// topics of obsolete configs to clear.
type haQueue struct {
	wake  chan struct{}
	dirty chan struct{} // holds a token when the configs are to be published again
	clear chan string
	// early are the configs the broker handed back before the gateway knew its own (the connection comes
	// up before the runner's first Discover): judged when it does. Guarded by haState.mu.
	early []string
}

// discoveryReceived, when set by a test, sees every discovery config a broker hands back.
var discoveryReceived func(topic string)

// haClearQueue bounds the obsolete configs queued for clearing; past it they wait for the next connection.
const haClearQueue = 256

func (q *haQueue) init() {
	q.wake, q.dirty, q.clear = make(chan struct{}, 1), make(chan struct{}, 1), make(chan string, haClearQueue)
}

func (q *haQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Discover sets the Home Assistant discovery configs (at start and after a reload): every connected broker
// publishes them at once, and removes the entities the previous ones had and these do not.
func (d *Delivery) Discover(disc *homeassistant.Discovery) {
	d.ha.mu.Lock()
	d.ha.removals = disc.Removals(d.ha.disc)
	d.ha.disc = disc
	for _, t := range d.targets {
		for _, topic := range t.ha.early {
			if disc.Obsolete(topic, []byte{'{'}) {
				select {
				case t.ha.clear <- topic:
				default:
				}
			}
		}
		t.ha.early = nil
	}
	d.ha.mu.Unlock()
	for _, t := range d.targets {
		select {
		case t.ha.dirty <- struct{}{}:
		default:
		}
		t.ha.poke()
	}
}

// subscribeDiscovery makes a broker's connection follow the gateway's own discovery topics, when
// discovery is on, so that the configs it retains for entities no longer configured come back.
func (d *Delivery) subscribeDiscovery(t *target) {
	ha := d.cfg.MQTT.HomeAssistant
	if ha == nil {
		return
	}
	filter := homeassistant.Filter(ha.DiscoveryPrefix, d.cfg.Gateway.ID)
	if t.mc.Subscribe == nil { // a broker the gateway takes no commands from
		t.mc.Subscribe = map[string]byte{}
	}
	t.mc.Subscribe[filter] = 1
	prefix := ha.DiscoveryPrefix + "/"
	commands := t.mc.OnMessage
	t.mc.OnMessage = func(m mqtt.Received) {
		if !strings.HasPrefix(m.Topic, prefix) {
			commands(m)
			return
		}
		d.ha.mu.Lock()
		disc := d.ha.disc
		if disc == nil && len(m.Payload) > 0 && len(t.ha.early) < haClearQueue {
			t.ha.early = append(t.ha.early, m.Topic)
		}
		d.ha.mu.Unlock()
		if f := discoveryReceived; f != nil {
			f(m.Topic)
		}
		if disc == nil || !disc.Obsolete(m.Topic, m.Payload) {
			return
		}
		// Cleared on the broker's goroutine: a callback must not block on the connection.
		select {
		case t.ha.clear <- m.Topic:
			t.ha.poke()
		default:
		}
	}
}

// publishDiscovery publishes the removals of the last reload and the current configs, retained, without
// waiting for their acknowledgements (they follow the status on the same connection).
func (t *target) publishDiscovery(cl *mqtt.Client) {
	select {
	case <-t.ha.dirty: // published now: no need to do it again on the next wake
	default:
	}
	t.d.ha.mu.Lock()
	disc, removals := t.d.ha.disc, t.d.ha.removals
	t.d.ha.mu.Unlock()
	if disc == nil {
		return
	}
	for _, m := range removals {
		cl.Publish(mqtt.Message{Topic: m.Topic, QoS: 1, Retain: true})
	}
	for _, m := range disc.Configs() {
		cl.Publish(mqtt.Message{Topic: m.Topic, Payload: m.Payload, QoS: 1, Retain: true})
	}
}

// serveDiscovery does the discovery work queued for this broker.
func (t *target) serveDiscovery(cl *mqtt.Client) {
	select {
	case <-t.ha.dirty:
		t.publishDiscovery(cl)
	default:
	}
	for {
		select {
		case topic := <-t.ha.clear:
			t.log.Info("removing a Home Assistant entity that is no longer configured", "topic", topic)
			cl.Publish(mqtt.Message{Topic: topic, QoS: 1, Retain: true})
		default:
			return
		}
	}
}
