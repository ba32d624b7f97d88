// Package homeassistant builds Home Assistant MQTT discovery configs for a gateway: one device per
// gateway, a sensor or binary sensor per channel (with Home Assistant's device classes and units, and
// the channel's resolution as display precision), a problem entity per alarm, all available while the
// gateway's status topic says "online". It only builds messages and recognises the gateway's own
// discovery topics; delivery publishes them, retained, on every broker and removes the ones no longer
// configured. See https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery.
package homeassistant
