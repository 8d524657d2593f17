package broker

// Rack is this broker's rack (--rack, Kafka's broker.rack); empty for none.
func (n *Node) Rack() string { return n.cfg.Rack }
