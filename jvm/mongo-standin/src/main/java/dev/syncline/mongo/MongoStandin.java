package dev.syncline.mongo;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;
import java.io.File;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * Runs mongo-java-server with its H2 MVStore backend on a chosen host, port and data file.
 *
 * <p>The library's own main classes bind only localhost:27017 and keep data in memory, which is
 * why the local stack needs this launcher. Prints {@code READY host:port} once listening; on
 * SIGTERM it stops listening and closes the store so everything written is on disk.
 */
public final class MongoStandin {

  /**
   * The newest version the library models (MongoDB 5.0 data model, wire version 8). Claiming a
   * higher wire version would make clients send commands the stand-in does not implement; the
   * Node side therefore pins the mongodb driver 6 (docs/decisions/0003).
   */
  static final MongoVersion ANNOUNCED_VERSION = ServerVersion.MONGO_5_0;

  private MongoStandin() {}

  public static void main(String[] args) throws Exception {
    String host = "127.0.0.1";
    int port = 27017;
    String dataFile = null;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (i + 1 >= args.length) {
        fail("option " + arg + " needs a value");
      }
      switch (arg) {
        case "--host" -> host = args[++i];
        case "--port" -> port = parsePort(args[++i]);
        case "--data-file" -> dataFile = args[++i];
        default -> fail("unknown option " + arg);
      }
    }
    if (dataFile == null) {
      fail("--data-file F.mv is required (the H2 MVStore file that keeps the data)");
    }
    File parent = new File(dataFile).getAbsoluteFile().getParentFile();
    if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
      fail("cannot create the folder " + parent + " for the data file");
    }

    CommittingH2Backend backend = new CommittingH2Backend(dataFile);
    backend.version(ANNOUNCED_VERSION);
    MongoServer server = new MongoServer(backend);
    try {
      server.bind(host, port);
    } catch (RuntimeException e) {
      backend.close();
      fail("cannot listen on " + host + ":" + port + " (" + rootMessage(e)
          + "); is the port taken? choose another one with --port");
    }

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    server.shutdown();
                  } finally {
                    // shutdown() closes the backend too; closing again is harmless and makes the
                    // flush explicit should that change in a later library version.
                    backend.close();
                    stopped.countDown();
                  }
                },
                "mongo-standin-shutdown"));

    System.out.println("READY " + host + ":" + port);
    System.out.flush();
    stopped.await();
  }

  private static int parsePort(String value) {
    try {
      int port = Integer.parseInt(value);
      if (port >= 0 && port <= 65535) {
        return port;
      }
    } catch (NumberFormatException ignored) {
      // reported below
    }
    fail("--port must be a number between 0 and 65535, got '" + value + "'");
    return -1;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }

  private static void fail(String message) {
    System.err.println("mongo-standin: " + message);
    System.exit(2);
  }

  /**
   * Commits the MVStore after every write command. MVStore's own auto-commit runs about once a
   * second, so without this a SIGKILL could drop writes that the client saw acknowledged, and the
   * pipeline's crash tests would blame the sink writer for the stand-in's loss.
   */
  static final class CommittingH2Backend extends H2Backend {
    private static final Set<String> WRITE_COMMANDS =
        Set.of(
            "insert",
            "update",
            "delete",
            "findandmodify",
            "createindexes",
            "dropindexes",
            "drop",
            "dropdatabase",
            "create",
            "renamecollection");

    CommittingH2Backend(String fileName) {
      super(fileName);
    }

    @Override
    public Document handleCommand(Channel channel, String databaseName, String command, Document query) {
      Document result = super.handleCommand(channel, databaseName, command, query);
      if (WRITE_COMMANDS.contains(command.toLowerCase(Locale.ROOT))) {
        commit();
      }
      return result;
    }
  }
}
