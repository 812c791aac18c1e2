"""The boot of an instance launched from a template: each boot script's progress, read from the instance's console
as cloud-init prints it, kept in the instance's `boot` section while the boot lasts."""
