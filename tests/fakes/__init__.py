"""Hand-written in-memory fakes of the services' own ports (their repositories), for unit tests of their use cases
under the kernel's FakeUnitOfWork."""
