// Initiates the replica set rs0 (once) and creates or updates the services' user, which may
// only read and write the services' database. Idempotent: run it again at will.
// Run by the Job in replica-set-init.yaml with mongosh, connected to mongodb-0 as root.
const env = process.env;
const members = [0, 1, 2].map((i) => ({ _id: i, host: `mongodb-${i}.mongodb:27017` }));

try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (e) {
  if (e.codeName !== "NotYetInitialized") throw e;
  rs.initiate({ _id: "rs0", members });
  print("replica set rs0 initiated");
}

// Users are written on the primary: connect to the set, not to one member.
const hosts = members.map((m) => m.host).join(",");
const set = connect(
  `mongodb://${encodeURIComponent(env.ROOT_USERNAME)}:${encodeURIComponent(env.ROOT_PASSWORD)}` +
    `@${hosts}/admin?replicaSet=rs0&authSource=admin`,
);
for (let tries = 0; !set.hello().isWritablePrimary; tries++) {
  if (tries > 120) throw new Error("no primary after two minutes");
  sleep(1000);
}

const db = set.getSiblingDB(env.INVOICEBUS_DATABASE);
const roles = [{ role: "readWrite", db: env.INVOICEBUS_DATABASE }];
if (db.getUser(env.APP_USERNAME) === null) {
  db.createUser({ user: env.APP_USERNAME, pwd: env.APP_PASSWORD, roles });
  print(`user ${env.APP_USERNAME} created`);
} else {
  db.updateUser(env.APP_USERNAME, { pwd: env.APP_PASSWORD, roles });
  print(`user ${env.APP_USERNAME} updated`);
}
