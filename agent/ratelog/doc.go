// Package ratelog keeps repeated log lines from flooding a gateway's log: a refused command sent in a
// loop, a sensor that flaps every second, a broker that keeps dropping the connection. Each kind of line
// has a key; the first line of a key is logged, further ones within the interval are counted, and the
// next line that is logged carries how many were suppressed meanwhile, so nothing disappears silently.
//
// The number of keys is bounded, because keys may come from outside (a broker name, a sensor id): when
// the table is full, keys idle for longer than the interval are forgotten, and lines of new keys share one
// overflow key until room frees up.
package ratelog
