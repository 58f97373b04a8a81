package envoy

import (
	"encoding/json"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// TestPluginConfigsParse runs the filter's own configuration parser (the
// code behind `breakwater validate` and the plugin's OnPluginStart) on every
// plugin configuration the deployment files hand to the filter.
func TestPluginConfigsParse(t *testing.T) {
	istio, err := json.Marshal(istioPluginConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := json.Marshal(pluginConfigOf(t, clientPluginPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"envoy/plugin.json", pluginJSON(t)},
		{"envoy/envoy.yaml (embedded)", embeddedPluginConfig(t)},
		// Istio serializes pluginConfig (a google.protobuf.Struct) to JSON
		// before passing it to the plugin.
		{"envoy/istio/wasmplugin.yaml (pluginConfig)", istio},
		{"envoy/istio/wasmplugin-client.yaml (pluginConfig)", client},
	} {
		cfg, err := config.Parse(c.data)
		if err != nil {
			t.Errorf("%s: rejected by the filter's config parser: %v", c.name, err)
			continue
		}
		if cfg == nil {
			t.Errorf("%s: config.Parse returned no configuration and no error", c.name)
		}
	}
}
