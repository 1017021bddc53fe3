package lakehouse.gold

import java.io.PrintStream
import java.time.LocalDate

import io.delta.tables.DeltaTable
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.functions.{col, max, min}

/** What a run did: the silver version it read, the days it rewrote and the mart rows now in those days. */
final case class RunSummary(silverVersion: Long, scope: Scope, rows: Long, seconds: Double) {
  override def toString: String = {
    val what = scope match {
      case Scope.AllDays => "full refresh"
      case Scope.NoDays => "no new purchase days, nothing rewritten"
      case days: Scope.Days => days.toString
      case days: Scope.DayList => days.toString
    }
    f"fct_purchases_daily: silver version $silverVersion, $what, $rows rows in ${seconds}%.2fs"
  }
}

/** Entry point: rebuild fct_purchases_daily from silver for a day range, every silver day, or in full. */
object PurchasesDailyJob {
  val Key = "event_date"

  def main(args: Array[String]): Unit = {
    val code = execute(args.toSeq, System.out, System.err)
    if (code != 0) sys.exit(code)
  }

  /** Parse, then run on a new session; a bad argument prints the problem and the usage and returns 2. */
  def execute(args: Seq[String], out: PrintStream, err: PrintStream): Int =
    if (args.contains("--help")) {
      out.println(JobArgs.Usage)
      0
    } else
      JobArgs.parse(args) match {
        case Left(problem) =>
          err.println(s"error: $problem")
          err.println(JobArgs.Usage)
          2
        case Right(jobArgs) =>
          val spark = GoldSession.builder("lakehouse-gold-purchases-daily").getOrCreate()
          try {
            out.println(run(spark, jobArgs))
            0
          } finally spark.stop()
      }

  /** Run with command-line arguments on a session that already exists (a notebook's, or a benchmark's). */
  def runWith(spark: SparkSession, args: Array[String]): RunSummary =
    JobArgs.parse(args.toSeq) match {
      case Left(problem) => throw new IllegalArgumentException(s"$problem\n${JobArgs.Usage}")
      case Right(jobArgs) => run(spark, jobArgs)
    }

  /** Pin silver's version (its current one, or the one gold's state records), work out the days to recompute,
    * recompute them from that version and replace exactly those in gold. */
  def run(spark: SparkSession, args: JobArgs): RunSummary = {
    val started = System.nanoTime()
    requireSilver(spark, args.silver)
    val target = args.goldState.map(SilverPosition.ofGoldState(spark, _))
    val version = target.fold(silverVersion(spark, args.silver))(_.version)
    val silver = spark.read.format("delta").option("versionAsOf", version).load(args.silver)
    val scope = target.fold(Scope.of(args, dayBounds(silver)))(scopeSince(spark, args, _))
    val predicate = scope match {
      case days: Scope.Days => Some(days.predicate(Key))
      case days: Scope.DayList => Some(days.predicate(Key))
      case _ => None
    }
    val mart = GoldMarts.purchasesDaily(predicate.fold(silver)(silver.where))
    DeltaMart.createIfMissing(spark, args.gold, mart.schema, Key)
    val metadata = target.map(SilverPosition.metadata)
    val gold = () => spark.read.format("delta").load(args.gold)
    val rows = (scope, predicate) match {
      case (Scope.AllDays, _) =>
        DeltaMart.overwrite(mart, args.gold, metadata)
        gold().count()
      case (_, Some(where)) =>
        DeltaMart.replaceWhere(mart, args.gold, where, metadata)
        gold().where(where).count()
      case _ => 0L
    }
    RunSummary(version, scope, rows, (System.nanoTime() - started) / 1e9)
  }

  /** With --gold-state: in full when the mart has no position from this silver table (first run, a replaced
    * silver, --full-refresh) or silver's change feed since it is gone (vacuumed); else the days with purchases
    * committed to silver after the mart's position, up to the target. */
  private def scopeSince(spark: SparkSession, args: JobArgs, target: SilverPosition): Scope =
    SilverPosition.ofMart(spark, args.gold).filter(_ => !args.fullRefresh) match {
      case Some(last) if last == target => Scope.NoDays
      case Some(last) if last.tableId == target.tableId && last.version < target.version =>
        purchaseDays(spark, args.silver, last.version + 1, target.version) match {
          case Some(Seq()) => Scope.NoDays
          case Some(days) => Scope.DayList(days)
          case None => Scope.AllDays
        }
      case _ => Scope.AllDays
    }

  /** The event_date of every purchase silver's change feed inserted in versions from..to, or None when the feed
    * cannot be read for that range: its change data expired from the log, or the files it names were vacuumed
    * (OPTIMIZE then VACUUM). A full rebuild at the target version is then the exact answer. */
  private def purchaseDays(spark: SparkSession, silver: String, from: Long, to: Long): Option[Seq[LocalDate]] =
    try {
      val feed = spark.read.format("delta").option("readChangeFeed", "true")
        .option("startingVersion", from).option("endingVersion", to).load(silver)
      Some(
        feed.where(col("_change_type") === "insert" && col("event_type") === GoldMarts.Purchase)
          .select(Key).distinct().collect().toSeq.filterNot(_.isNullAt(0)).map(_.getDate(0).toLocalDate)
      )
    } catch {
      case e: Exception if e.isInstanceOf[org.apache.spark.sql.AnalysisException] || filesGone(e) =>
        val cause = Option(e.getMessage).fold(e.getClass.getName)(_.split("\n").head.take(400))
        System.err.println(
          s"silver's change feed for versions $from..$to cannot be read ($cause); rebuilding fct_purchases_daily in full")
        None
    }

  /** A read failed because files the Delta log names are gone (FileNotFoundException somewhere in its causes;
    * Spark 4 says FAILED_READ_FILE.FILE_NOT_EXIST): any other failure is not the feed's age and propagates. */
  private def filesGone(e: Throwable): Boolean =
    Iterator.iterate(e)(_.getCause).takeWhile(_ != null).take(16).exists {
      case _: java.io.FileNotFoundException => true
      case t => Option(t.getMessage).exists(m => m.contains("FILE_NOT_EXIST") || m.contains("FileNotFoundException"))
    }

  private def requireSilver(spark: SparkSession, uri: String): Unit =
    if (!DeltaTable.isDeltaTable(spark, uri))
      throw new IllegalArgumentException(
        s"no silver Delta table at $uri (--silver): run the silver job first (python -m spark.jobs.silver) " +
          "or pass the path of the silver events table")

  private def silverVersion(spark: SparkSession, uri: String): Long =
    DeltaTable.forPath(spark, uri).history(1).select("version").head().getLong(0)

  /** Silver's first and last event_date, or None when it has no rows. */
  private def dayBounds(silver: DataFrame): Option[(LocalDate, LocalDate)] = {
    val bounds = silver.select(min(Key), max(Key)).head()
    if (bounds.isNullAt(0)) None
    else Some((bounds.getDate(0).toLocalDate, bounds.getDate(1).toLocalDate))
  }
}
