"""The billing service: usage rated per second from the provisioner's lifecycle events against the price catalogs it
publishes, as FOCUS cost lines; costs grouped, filtered and exported."""
