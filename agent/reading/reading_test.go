package reading

import "testing"

func TestUnit(t *testing.T) {
	for ch, want := range map[Channel]string{
		Temperature: "°C", Humidity: "%RH", OnBattery: "", "cell_max_temp": "°C", "string_voltage": "V",
		"mystery": "",
	} {
		if got := Unit(ch); got != want {
			t.Errorf("Unit(%q) = %q, want %q", ch, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"r12.inlet": true, "ups-1": true, "a_b": true, "": false, "R12": false, "a/b": false, "a+b": false,
		"a#": false, "a b": false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v", s, !want)
		}
	}
}
