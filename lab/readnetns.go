package lab

// ReadNetNS reads what Describe reads of a host from any network namespace
// at pin (a host's, a container's /proc/PID/ns/net, one a student pinned):
// its links with their IPv4 addresses, sorted by name, and the IPv4 routes
// of its main table.
func ReadNetNS(pin string) ([]LinkDescription, []RouteDescription, error) {
	links, err := readLinks(pin)
	if err != nil {
		return nil, nil, err
	}
	routes, err := readRoutes(pin)
	if err != nil {
		return nil, nil, err
	}
	return links, routes, nil
}
