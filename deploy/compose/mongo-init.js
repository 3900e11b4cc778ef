// Run once by the mongo image's entrypoint, on the first start of an empty volume (before the
// replica set exists): the services' user, who may only read and write their database.
const env = process.env;
db.getSiblingDB("invoicebus").createUser({
  user: env.MONGO_APP_USER,
  pwd: env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: "invoicebus" }],
});
