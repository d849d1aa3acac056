package sqlite

// DriverName is the database/sql driver of this build, for tests that open
// the file directly.
const DriverName = driverName
