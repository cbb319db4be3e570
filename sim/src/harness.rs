pub struct Harness; pub struct Report; pub struct Failure;
