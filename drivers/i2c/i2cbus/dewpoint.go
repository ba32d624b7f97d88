package i2cbus

import "math"

// Magnus coefficients over water from Sonntag (1990), "Important new values of the physical constants of
// 1986, vapour pressure formulations based on the ITS-90, and psychrometer formulae", Z. Meteorol. 40,
// 340-344, as recommended in WMO-No. 8 (Guide to Instruments and Methods of Observation), Annex 4.B:
// e_w(t) = 6.112 hPa * exp(17.62 t / (243.12 + t)), valid from -45 °C to 60 °C.
const (
	magnusB = 17.62
	magnusC = 243.12
)

// DewPoint returns the dew point in °C for an air temperature t (°C) and relative humidity rh (%RH),
// inverting the Magnus formula: gamma = ln(rh/100) + b t / (c + t); Td = c gamma / (b - gamma).
// It returns NaN for rh <= 0, where the dew point is undefined.
func DewPoint(t, rh float64) float64 {
	if rh <= 0 {
		return math.NaN()
	}
	g := math.Log(rh/100) + magnusB*t/(magnusC+t)
	return magnusC * g / (magnusB - g)
}
