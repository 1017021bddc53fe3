package lakehouse.gold

import java.io.PrintStream
import java.time.LocalDate

import io.delta.tables.DeltaTable
import org.apache.spark.sql.{DataFrame, SparkSession}
import org.apache.spark.sql.functions.{max, min}

/** What a run did: the silver version it read, the days it rewrote and the mart rows now in those days. */
final case class RunSummary(silverVersion: Long, scope: Scope, rows: Long, seconds: Double) {
  override def toString: String = {
    val what = scope match {
      case Scope.AllDays => "full refresh"
      case Scope.NoDays => "silver is empty, nothing rewritten"
      case days: Scope.Days => days.toString
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

  /** Pin silver's current version, recompute the requested days from it and replace exactly those in gold. */
  def run(spark: SparkSession, args: JobArgs): RunSummary = {
    val started = System.nanoTime()
    val version = silverVersion(spark, args.silver)
    val silver = spark.read.format("delta").option("versionAsOf", version).load(args.silver)
    val scope = Scope.of(args, dayBounds(silver))
    val source = scope match {
      case days: Scope.Days => silver.where(days.predicate(Key))
      case _ => silver
    }
    val mart = GoldMarts.purchasesDaily(source)
    DeltaMart.createIfMissing(spark, args.gold, mart.schema, Key)
    val gold = () => spark.read.format("delta").load(args.gold)
    val rows = scope match {
      case Scope.AllDays =>
        DeltaMart.overwrite(mart, args.gold)
        gold().count()
      case days: Scope.Days =>
        DeltaMart.replaceWhere(mart, args.gold, days.predicate(Key))
        gold().where(days.predicate(Key)).count()
      case Scope.NoDays => 0L
    }
    RunSummary(version, scope, rows, (System.nanoTime() - started) / 1e9)
  }

  private def silverVersion(spark: SparkSession, uri: String): Long = {
    if (!DeltaTable.isDeltaTable(spark, uri))
      throw new IllegalArgumentException(
        s"no silver Delta table at $uri (--silver): run the silver job first (python -m spark.jobs.silver) " +
          "or pass the path of the silver events table")
    DeltaTable.forPath(spark, uri).history(1).select("version").head().getLong(0)
  }

  /** Silver's first and last event_date, or None when it has no rows. */
  private def dayBounds(silver: DataFrame): Option[(LocalDate, LocalDate)] = {
    val bounds = silver.select(min(Key), max(Key)).head()
    if (bounds.isNullAt(0)) None
    else Some((bounds.getDate(0).toLocalDate, bounds.getDate(1).toLocalDate))
  }
}
