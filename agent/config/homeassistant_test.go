package config

import (
	"strings"
	"testing"
)

func TestHomeAssistantConfig(t *testing.T) {
	base := "gateway: {id: gw}\nmqtt:\n  embedded_broker: 127.0.0.1:1883\n"
	cfg, err := Parse("f.yaml", []byte(base+"  home_assistant: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if ha := cfg.MQTT.HomeAssistant; ha == nil || ha.DiscoveryPrefix != "homeassistant" {
		t.Errorf("default discovery prefix: %+v", ha)
	}
	if cfg, _ := Parse("f.yaml", []byte(base)); cfg.MQTT.HomeAssistant != nil {
		t.Error("discovery is on without being asked for")
	}
	for yaml, want := range map[string]string{
		"  home_assistant: {discovery_prefix: ha/#}\n":         "f.yaml:4: mqtt.home_assistant.discovery_prefix \"ha/#\": no '+', '#' or leading/trailing '/'",
		"  home_assistant: {discovery_prefix: rackwatch/ha}\n": "f.yaml:4: mqtt.home_assistant.discovery_prefix \"rackwatch/ha\" is inside mqtt.topic_prefix \"rackwatch\"",
		"  home_assistant: {prefix: ha}\n":                     "f.yaml:4: mqtt.home_assistant: unknown key \"prefix\"",
	} {
		if _, err := Parse("f.yaml", []byte(base+yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %s", yaml, err, want)
		}
	}
}
