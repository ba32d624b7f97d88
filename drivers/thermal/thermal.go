package thermal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Options are the sensor keys of a thermal sensor.
type Options struct {
	// Zone is a zone type (cpu-thermal) or directory name (thermal_zone1). Empty picks the CPU zone.
	Zone string `yaml:"zone"`
	// Sysfs is the sysfs mount point, default /sys.
	Sysfs string `yaml:"sysfs"`
}

func parse(s *driver.Sensor) (Options, error) {
	o := Options{Sysfs: "/sys"}
	if err := s.Options.Decode(&o); err != nil {
		return o, err
	}
	if strings.ContainsAny(o.Zone, "/") {
		return o, settings.Errorf(s.Options, "zone", "sensor %q: zone is a zone type or a thermal_zoneN name, not a path", s.ID)
	}
	return o, nil
}

// ParseTemp parses the content of a thermal zone's temp file (an integer in millidegrees Celsius) into °C.
func ParseTemp(b []byte) (float64, error) {
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("temp %q is not an integer", truncate(s))
	}
	c := float64(v) / 1000
	// Below absolute zero or above any silicon's limit is a driver reporting an error value.
	if c < -273.15 || c > 200 {
		return 0, fmt.Errorf("temp %d m°C is outside -273..200 °C", v)
	}
	return c, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// FindZone returns the directory of the zone named by zone (a type or a thermal_zoneN name) under
// root/class/thermal. An empty zone picks the first zone whose type mentions the CPU, else the first zone.
func FindZone(root, zone string) (string, error) {
	base := filepath.Join(root, "class", "thermal")
	dirs, _ := filepath.Glob(filepath.Join(base, "thermal_zone*"))
	sort.Slice(dirs, func(i, j int) bool { return zoneNum(dirs[i]) < zoneNum(dirs[j]) })
	if len(dirs) == 0 {
		return "", fmt.Errorf("no thermal zones in %s (this kernel exposes none)", base)
	}
	var types []string
	for _, d := range dirs {
		t, _ := os.ReadFile(filepath.Join(d, "type"))
		typ := strings.TrimSpace(string(t))
		types = append(types, fmt.Sprintf("%s (%s)", filepath.Base(d), typ))
		switch {
		case zone == "" && (strings.Contains(typ, "cpu") || strings.Contains(typ, "soc") || typ == "x86_pkg_temp"):
			return d, nil
		case zone != "" && (zone == typ || zone == filepath.Base(d)):
			return d, nil
		}
	}
	if zone == "" {
		return dirs[0], nil
	}
	return "", fmt.Errorf("no thermal zone %q; zones: %s", zone, strings.Join(types, ", "))
}

func zoneNum(d string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "thermal_zone"))
	return n
}

type zone struct {
	sensor string
	o      Options
	dir    string
	buf    [64]byte
}

func (z *zone) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if z.dir == "" {
		d, err := FindZone(z.o.Sysfs, z.o.Zone)
		if err != nil {
			return out, fmt.Errorf("thermal: sensor %s: %w", z.sensor, err)
		}
		z.dir = d
	}
	f, err := os.Open(filepath.Join(z.dir, "temp"))
	if err != nil {
		z.dir = ""
		return out, fmt.Errorf("thermal: sensor %s: %w", z.sensor, err)
	}
	n, err := f.Read(z.buf[:])
	f.Close()
	if err != nil {
		// Some zones (e.g. a sensor behind a sleeping PCIe device) fail reads with EAGAIN/ENODATA.
		return out, fmt.Errorf("thermal: sensor %s: read %s/temp: %w", z.sensor, z.dir, err)
	}
	v, err := ParseTemp(z.buf[:n])
	if err != nil {
		return out, fmt.Errorf("thermal: sensor %s: %s: %w", z.sensor, z.dir, err)
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: v}), nil
}

func (z *zone) Close() error { return nil }

// Register adds the thermal driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{
		Name: "thermal",
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			if _, err := parse(s); err != nil {
				return nil, err
			}
			// sysfs counts millidegrees, but no SoC sensor resolves better than a tenth.
			return []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.1)}, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, err := parse(env.Sensor)
			if err != nil {
				return nil, err
			}
			d, err := FindZone(o.Sysfs, o.Zone)
			if err != nil {
				return nil, fmt.Errorf("thermal: sensor %s: %w", env.Sensor.ID, err)
			}
			return &zone{sensor: env.Sensor.ID, o: o, dir: d}, nil
		},
	})
}
