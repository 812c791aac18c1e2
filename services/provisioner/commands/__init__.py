"""Commands other services send the provisioner over the bus, recorded on receipt and carried out after."""
