package delivery

// Connected says how many of the brokers alarms go to are connected now, and how many there are (the
// embedded broker included), for the service manager's status line.
func (d *Delivery) Connected() (up, total int) {
	for _, t := range d.targets {
		if t.current() != nil {
			up++
		}
	}
	return up, len(d.targets)
}
